namespace Smtpd.Cli.Configuration;

/// <summary>A bad setting: the CLI prints <c>smtpd: FLAG: PROBLEM</c> on one line and exits with code 2.</summary>
internal sealed class SettingException : Exception
{
    /// <summary>Creates the error.</summary>
    /// <param name="setting">Where the value came from: the flag, or the variable or config line with the flag.</param>
    /// <param name="problem">What is wrong with it.</param>
    public SettingException(string setting, string problem)
        : base($"{setting}: {problem}")
    {
        Setting = setting;
        Problem = problem;
    }

    /// <summary>Creates an error about nothing in particular; prefer the two-argument form.</summary>
    public SettingException()
        : this("smtpd", "invalid setting")
    {
    }

    /// <summary>Creates an error with a full message.</summary>
    /// <param name="message">The message.</param>
    public SettingException(string message)
        : this("smtpd", message)
    {
    }

    /// <summary>Creates an error with a full message and its cause.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public SettingException(string message, Exception innerException)
        : base(message, innerException)
    {
        Setting = "smtpd";
        Problem = message;
    }

    /// <summary>Where the value came from.</summary>
    public string Setting { get; }

    /// <summary>What is wrong with it.</summary>
    public string Problem { get; }
}
