using System.Reflection;
using System.Xml.Linq;

namespace Smtpd.Cli.Tests;

/// <summary>The help and the version name the tool as the package installs it: <c>smtpd</c>.</summary>
public sealed class HelpTests
{
    [Fact]
    public async Task HelpNamesTheCommandSmtpdWhenTheProcessIsSmtpdCliDll()
    {
        // The tool's shim runs Smtpd.Cli.dll too, so this is what an installed `smtpd --help` prints.
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:\n  smtpd [command] [options]\n", result.Output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
        Assert.DoesNotContain("Smtpd.Cli", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("list")]
    [InlineData("show")]
    [InlineData("send")]
    public async Task SubcommandHelpNamesTheCommandSmtpd(string command)
    {
        var result = await SmtpdCli.RunInProcessAsync(command, "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains($"\n  smtpd {command} ", result.Output.ReplaceLineEndings("\n"), StringComparison.Ordinal);
    }

    [Fact]
    public void TheCommandNameIsTheToolCommandNameOfThePackage()
    {
        var project = XDocument.Load(Path.Combine(Path.GetDirectoryName(SmtpdCli.DllPath)!, "..", "..", "..", "Smtpd.Cli.csproj"));
        var toolCommandName = project.Descendants("ToolCommandName").Single().Value;

        Assert.Equal("smtpd", toolCommandName);
        Assert.Equal(toolCommandName, Smtpd.Cli.Program.CommandName);
    }

    [Fact]
    public async Task VersionPrintsThePackageVersion()
    {
        // Out of process: System.CommandLine prints the entry assembly's version.
        using var dir = new TestDirectory();
        var result = await SmtpdCli.RunAsync(dir, "--version");

        // The package version is the informational version MinVer sets from the git tags (README "Packages").
        var version = typeof(Smtpd.Cli.Program).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(0, result.ExitCode);
        Assert.Equal(version, result.Output.Trim());
    }
}
