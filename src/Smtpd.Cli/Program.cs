using System.CommandLine;
using System.CommandLine.Help;
using System.Reflection;
using Smtpd.Cli.Commands;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli;

/// <summary>The <c>smtpd</c> tool: a mail catcher, the commands on its store, and <c>send</c>.</summary>
internal static class Program
{
    /// <summary>The exit code for a bad flag or value, a port in use or an unreadable certificate.</summary>
    public const int UsageError = 2;

    /// <summary>
    /// The command's name, <c>smtpd</c>: the ToolCommandName that the tool package installs its shim under, which
    /// the build records in this assembly (Smtpd.Cli.csproj), so the help never drifts from the package.
    /// </summary>
    public static string CommandName { get; } = typeof(Program).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "ToolCommandName").Value!;

    /// <summary>Runs the tool.</summary>
    /// <param name="args">The command line.</param>
    /// <returns>The exit code: 0 on success, 1 when a command fails, 2 for bad flags or values.</returns>
    public static async Task<int> Main(string[] args)
    {
        ProcessTuning.Apply();
        await using var stdout = Console.OpenStandardOutput();
        return await RunAsync(args, stdout, Console.Error, SettingSources.ProcessEnvironment, CancellationToken.None);
    }

    /// <summary>Parses and runs a command line.</summary>
    /// <param name="args">The command line.</param>
    /// <param name="stdout">Standard output.</param>
    /// <param name="stderr">Standard error.</param>
    /// <param name="environment">Looks up environment variables.</param>
    /// <param name="stop">Stops the catcher, like SIGTERM.</param>
    /// <returns>The exit code.</returns>
    public static async Task<int> RunAsync(string[] args, Stream stdout, TextWriter stderr, Func<string, string?> environment, CancellationToken stop)
    {
        var context = new CommandContext(stdout, stderr, environment, stop);
        // Not RootCommand: it names itself after the entry assembly, Smtpd.Cli, however the tool was started (the
        // shim runs Smtpd.Cli.dll), and that name cannot be changed (dotnet/command-line-api#2365). A plain Command
        // with the tool's name and the two options RootCommand adds shows `smtpd` in every usage line.
        var root = new Command(CommandName, "smtpd: a local SMTP mail catcher with a durable SQLite store, policies and JSON events. "
            + "Without a command it runs the catcher; every catcher flag also reads SMTPD_<FLAG> and the config file.")
        {
            Options = { new HelpOption(), new VersionOption() },
        };
        CatcherCommand.Configure(root, context);
        StoreCommands.Add(root, context);
        root.Subcommands.Add(SendCommand.Create(context));
        root.Subcommands.Add(WaitCommand.Create(context));
        root.Subcommands.Add(HealthCommand.Create(context));
        root.Subcommands.Add(ReleaseCommand.Create(context));

        // No response files: a policy pattern such as "@example\.com$" starts with '@' and must stay a value.
        var parse = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parse.Errors.Count > 0)
        {
            // One line naming the problem, as for every bad value; --help shows the rest.
            context.Fail(parse.Errors[0].Message);
            return UsageError;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                // The catcher handles SIGINT and SIGTERM itself, draining before it exits: System.CommandLine's
                // handler would end the process after a fixed timeout, in the middle of a commit.
                ProcessTerminationTimeout = null,
                EnableDefaultExceptionHandler = false,
                Output = context.Out,
                Error = stderr,
            }, CancellationToken.None);
        }
        catch (SettingException ex)
        {
            context.Fail(ex.Message);
            return UsageError;
        }
        catch (FileNotFoundException ex)
        {
            context.Fail(ex.Message);
            return 1;
        }
        catch (Smtpd.Catcher.Storage.StoreUnavailableException ex)
        {
            // A store command's PostgreSQL --db that is down, or holds no store: one line, as a missing file gives.
            context.Fail(ex.Message);
            return 1;
        }
    }
}
