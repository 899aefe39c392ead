namespace Smtpd.Cli.Configuration;

/// <summary>Where the store and the config file live when no flag says otherwise (documented in docs/cli.md).</summary>
internal static class DefaultPaths
{
    /// <summary>The default store, as the help shows it.</summary>
    public const string DatabaseDisplay = "$XDG_DATA_HOME/smtpd/smtpd.db, i.e. ~/.local/share/smtpd/smtpd.db; %LOCALAPPDATA%\\smtpd\\smtpd.db on Windows";

    /// <summary>The default config file, as the help shows it.</summary>
    public const string ConfigDisplay = "$XDG_CONFIG_HOME/smtpd/smtpd.conf, i.e. ~/.config/smtpd/smtpd.conf";

    /// <summary>
    /// The per-user data folder: .NET maps LocalApplicationData to <c>$XDG_DATA_HOME</c> (or <c>~/.local/share</c>)
    /// on Linux, <c>~/Library/Application Support</c> on macOS and <c>%LOCALAPPDATA%</c> on Windows.
    /// </summary>
    public static string DataDirectory => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.DoNotVerify), "smtpd");

    /// <summary>The default store file.</summary>
    public static string Database => Path.Combine(DataDirectory, "smtpd.db");

    /// <summary>The default config file: ApplicationData is <c>$XDG_CONFIG_HOME</c> (or <c>~/.config</c>) on Linux.</summary>
    public static string ConfigFile => Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData, Environment.SpecialFolderOption.DoNotVerify), "smtpd", "smtpd.conf");
}
