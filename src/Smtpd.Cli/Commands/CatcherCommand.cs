using System.CommandLine;
using Smtpd.Cli.Catcher;
using Smtpd.Cli.Configuration;

namespace Smtpd.Cli.Commands;

/// <summary>The root command: run the catcher with the flags of <see cref="Flags.Catcher"/>.</summary>
internal static class CatcherCommand
{
    /// <summary>Adds one option per flag to <paramref name="command"/>.</summary>
    /// <param name="command">The command.</param>
    /// <param name="flags">The flags.</param>
    /// <returns>The option of each flag.</returns>
    public static Dictionary<Flag, Option> AddFlags(Command command, IEnumerable<Flag> flags)
    {
        var options = new Dictionary<Flag, Option>();
        foreach (var flag in flags)
        {
            Option option = flag.Kind switch
            {
                FlagKind.Switch => new Option<bool>(flag.Option) { Description = flag.Description },
                FlagKind.List or FlagKind.RegexList => new Option<string[]>(flag.Option) { Description = flag.Description, HelpName = flag.ValueName, Arity = ArgumentArity.OneOrMore },
                _ => new Option<string>(flag.Option) { Description = flag.Description, HelpName = flag.ValueName },
            };
            command.Options.Add(option);
            options[flag] = option;
        }

        return options;
    }

    /// <summary>Configures the root command as the catcher.</summary>
    /// <param name="root">The root command.</param>
    /// <param name="context">Where output goes.</param>
    public static void Configure(Command root, CommandContext context)
    {
        var options = AddFlags(root, Flags.Catcher);
        root.SetAction(async (parse, _) =>
        {
            var settings = CatcherSettings.Load(SettingSources.Load(parse, options, context.Environment));
            return await CatcherRunner.RunAsync(settings, context.StdoutStream, context.Error, context.Stop);
        });
    }
}
