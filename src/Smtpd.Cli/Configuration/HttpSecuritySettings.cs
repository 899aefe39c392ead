using Smtpd.Catcher.Http.Security;

namespace Smtpd.Cli.Configuration;

/// <summary>
/// Reads the HTTP security flags (<c>--ui-auth</c>, <c>--ui-auth-file</c>, <c>--http-host</c>, <c>--api-cors</c>)
/// into the catcher's <see cref="CatcherHttpSecurityOptions"/>, turning each refusal into a one-line error that
/// names where the value came from.
/// </summary>
internal static class HttpSecuritySettings
{
    /// <summary>Builds the options from the flags' sources.</summary>
    /// <param name="sources">The command line, environment and config file.</param>
    /// <returns>The validated options.</returns>
    /// <exception cref="SettingException">A malformed user, an unreadable or malformed htpasswd file, a bad host name or origin.</exception>
    public static CatcherHttpSecurityOptions Load(SettingSources sources)
    {
        var options = new CatcherHttpSecurityOptions();
        if (sources.Get(Flags.UiAuth) is { } users)
        {
            // SMTPD_UI_AUTH is Mailpit's MP_UI_AUTH: users separated by spaces. A flag or config line is one user,
            // whose password may then contain spaces.
            var fromEnvironment = users.Label.StartsWith(Flags.UiAuth.EnvironmentVariable, StringComparison.Ordinal);
            foreach (var value in users.Values)
            {
                Apply(users.Label, () =>
                {
                    if (fromEnvironment)
                    {
                        options.AddUsers(value);
                    }
                    else
                    {
                        options.AddUser(value);
                    }
                });
            }
        }

        if (sources.Get(Flags.UiAuthFile) is { } file)
        {
            try
            {
                options.AddHtpasswdFile(file.Value);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new SettingException(file.Label, $"cannot read {file.Value}: {ex.Message}");
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException)
            {
                throw new SettingException(file.Label, Problem(ex));
            }
        }

        if (sources.Get(Flags.HttpHost) is { } hosts)
        {
            foreach (var host in hosts.Values)
            {
                options.AllowedHosts.Add(host);
                Apply(hosts.Label, options.Validate);
            }
        }

        if (sources.Get(Flags.ApiCors) is { } origins)
        {
            foreach (var origin in origins.Values)
            {
                Apply(origins.Label, () => options.AddCorsOrigins(origin));
            }
        }

        return options;
    }

    private static void Apply(string label, Action action)
    {
        try
        {
            action();
        }
        catch (ArgumentException ex)
        {
            throw new SettingException(label, Problem(ex));
        }
    }

    /// <summary>The exception's message as one line, without the parameter name .NET appends to an <see cref="ArgumentException"/>.</summary>
    private static string Problem(Exception ex)
    {
        var message = ex is ArgumentException { ParamName: { } name } argument
            ? argument.Message.Replace($" (Parameter '{name}')", string.Empty, StringComparison.Ordinal)
            : ex.Message;
        return message.ReplaceLineEndings(" ").TrimEnd('.');
    }
}
