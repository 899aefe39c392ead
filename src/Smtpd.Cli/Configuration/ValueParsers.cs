using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;

namespace Smtpd.Cli.Configuration;

/// <summary>
/// Parses flag values. Each parser returns the value or throws <see cref="SettingException"/> naming the setting
/// and saying what a good value looks like.
/// </summary>
internal static class ValueParsers
{
    /// <summary>How long one policy regular expression may run on one address before the command fails with 451.</summary>
    public static readonly TimeSpan RegexTimeout = TimeSpan.FromMilliseconds(250);

    /// <summary>Parses a size: octets, or a number with K, M or G (powers of 1024), optionally followed by B or iB.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The size in octets, at least 1.</returns>
    public static long ParseSize(string text, string setting)
    {
        var value = text.Trim();
        var upper = value.ToUpperInvariant();
        if (upper.EndsWith("IB", StringComparison.Ordinal))
        {
            upper = upper[..^2];
        }
        else if (upper.EndsWith('B'))
        {
            upper = upper[..^1];
        }

        var shift = upper.Length == 0 ? 0 : upper[^1] switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => 0 };
        var digits = shift == 0 ? upper : upper[..^1];
        if (!long.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
        {
            throw new SettingException(setting, $"'{text}' is not a size; use a positive number of octets with an optional K, M or G suffix, e.g. 10M");
        }

        if (number > long.MaxValue >> shift)
        {
            throw new SettingException(setting, $"'{text}' is too large");
        }

        return number << shift;
    }

    /// <summary>Parses a duration: seconds, or a number with ms, s, m or h.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The duration, in the range of the core's timeouts (more than zero, at most one day).</returns>
    public static TimeSpan ParseDuration(string text, string setting)
    {
        if (!TryParseSpan(text, out var duration))
        {
            throw new SettingException(setting, $"'{text}' is not a duration; use seconds or a number with ms, s, m or h, e.g. 30s or 5m");
        }

        // Every timeout of the core has the same range: its own validation (of CommandTimeout) says what is allowed.
        return CheckedByCore(duration, text, static (options, value) => options.CommandTimeout = value, setting);
    }

    /// <summary>
    /// Checks a value the way the core does, by setting it on <see cref="SmtpServerOptions"/>, whose setters validate
    /// every limit, so the CLI never copies the core's ranges; a refusal is reported against the CLI's flag, in its words.
    /// </summary>
    /// <typeparam name="T">The value's type.</typeparam>
    /// <param name="value">The parsed value.</param>
    /// <param name="text">The value as given, for the error.</param>
    /// <param name="apply">Sets the value on the options it configures.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns><paramref name="value"/>, when the core accepts it.</returns>
    /// <exception cref="SettingException">The core refuses it.</exception>
    public static T CheckedByCore<T>(T value, string text, Action<SmtpServerOptions, T> apply, string setting)
    {
        try
        {
            apply(new SmtpServerOptions(), value);
            return value;
        }
        catch (ArgumentException ex)
        {
            // "MaxRecipients must be from 1 to 100000. (Parameter 'MaxRecipients') Actual value was 0." becomes
            // "'0' must be from 1 to 100000": the option's name is the core's, the flag is the CLI's.
            var reason = ex.Message.Split('\n')[0].Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal).TrimEnd('.');
            if (ex.ParamName is { Length: > 0 } option && reason.StartsWith(option + " ", StringComparison.Ordinal))
            {
                reason = reason[(option.Length + 1)..];
            }

            throw new SettingException(setting, $"'{text.Trim()}' {reason}");
        }
    }

    /// <summary>
    /// Parses the HTTP base path: an absolute URL path such as <c>/mail/</c>, of letters, digits and <c>-._~/</c>
    /// (what a reverse proxy location needs, and nothing that would need escaping in a route).
    /// </summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The path without its trailing slash, or <see langword="null"/> for <c>/</c>.</returns>
    public static string? ParseBasePath(string text, string setting)
    {
        var value = text.Trim();
        if (!value.StartsWith('/') || value.Contains("//", StringComparison.Ordinal)
            || value.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~' or '/'))
            || value.Split('/').Any(segment => segment is "." or ".."))
        {
            throw new SettingException(setting, $"'{text}' is not a base path; use an absolute path such as /mail/ (letters, digits, - . _ ~)");
        }

        var trimmed = value.TrimEnd('/');
        return trimmed.Length == 0 ? null : trimmed;
    }

    /// <summary>Parses a whole number in a range.</summary>
    /// <param name="text">The value.</param>
    /// <param name="min">The smallest allowed.</param>
    /// <param name="max">The largest allowed.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The number.</returns>
    public static int ParseInt(string text, int min, int max, string setting)
    {
        if (!int.TryParse(text.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            throw new SettingException(setting, max == int.MaxValue ? $"'{text}' is not a whole number of {min} or more" : $"'{text}' is not a whole number from {min} to {max}");
        }

        return number;
    }

    /// <summary>Parses <c>ADDR:PORT</c>: <c>127.0.0.1:2525</c>, <c>[::1]:2525</c>, <c>localhost:2525</c> or <c>*:2525</c> (every interface).</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The endpoint.</returns>
    public static IPEndPoint ParseEndpoint(string text, string setting)
    {
        var value = text.Trim();
        var colon = value.LastIndexOf(':');
        var closing = value.LastIndexOf(']');
        if (colon > 0 && colon > closing && int.TryParse(value.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= IPEndPoint.MaxPort)
        {
            var host = value[..colon];
            if (host is "*")
            {
                return new IPEndPoint(IPAddress.IPv6Any, port);
            }

            if (host.Equals("localhost", StringComparison.OrdinalIgnoreCase))
            {
                return new IPEndPoint(IPAddress.Loopback, port);
            }

            if (host.StartsWith('[') && host.EndsWith(']'))
            {
                host = host[1..^1];
            }

            // An IPv6 address needs its brackets, or "::1:25" could be an address with or without a port.
            if (host.Contains(':', StringComparison.Ordinal) && !value.StartsWith('['))
            {
                throw new SettingException(setting, $"'{text}': write an IPv6 address in brackets, e.g. [::1]:2525");
            }

            if (IPAddress.TryParse(host, out var address) && IsCanonical(host, address))
            {
                return new IPEndPoint(address, port);
            }
        }

        throw new SettingException(setting, $"'{text}' is not ADDR:PORT; use e.g. 127.0.0.1:2525, [::1]:2525, localhost:2525 or *:2525");
    }

    /// <summary>Parses a CIDR block such as <c>10.0.0.0/8</c> or <c>2001:db8::/32</c>; a bare address is a block of one.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The network.</returns>
    public static IPNetwork ParseCidr(string text, string setting) =>
        Smtpd.Configuration.NetworkParser.TryParseCidr(text, out var network)
            ? network
            : throw new SettingException(setting, $"'{text}' is not a CIDR block; use e.g. 10.0.0.0/8, 192.168.1.7 or 2001:db8::/32 (no bits set past the prefix)");

    /// <summary>Whether an address was written in full: IPAddress also takes legacy forms such as "10.0.0" or "10".</summary>
    private static bool IsCanonical(string text, IPAddress address) =>
        address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || text.Count(c => c == '.') == 3;

    /// <summary>Compiles a policy regular expression: case-insensitive, culture-invariant, with a match timeout.</summary>
    /// <param name="text">The pattern.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The regular expression.</returns>
    public static Regex ParseRegex(string text, string setting)
    {
        try
        {
            return new Regex(text, RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, RegexTimeout);
        }
        catch (ArgumentException ex)
        {
            throw new SettingException(setting, $"'{text}' is not a valid regular expression: {ex.Message}");
        }
    }

    /// <summary>Parses Mailpit-style chaos triggers, <c>KEY:CODE:PERCENT[,…]</c>, on top of <paramref name="start"/>.</summary>
    /// <param name="text">The value.</param>
    /// <param name="start">The triggers so far.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The triggers.</returns>
    public static Smtpd.Catcher.Chaos.ChaosTriggers ParseChaosTriggers(string text, Smtpd.Catcher.Chaos.ChaosTriggers start, string setting)
    {
        try
        {
            return Smtpd.Catcher.Chaos.CatcherChaos.ParseTriggers(text, start);
        }
        catch (FormatException ex)
        {
            throw new SettingException(setting, ex.Message);
        }
    }

    /// <summary>Checks a chaos script, <c>POINT ACTION [xN|always] [after N]</c>.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The script as given.</returns>
    public static string ParseChaosScript(string text, string setting)
    {
        try
        {
            _ = Smtpd.Catcher.Chaos.ChaosScript.Parse(text);
            return text;
        }
        catch (FormatException ex)
        {
            throw new SettingException(setting, ex.Message);
        }
    }

    /// <summary>Parses <c>USER:PASS</c>; the password may contain colons.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The user and the password.</returns>
    public static (string User, string Password) ParseCredentials(string text, string setting)
    {
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            // The value is a secret: the message does not repeat it.
            throw new SettingException(setting, "expected USER:PASS with a non-empty user");
        }

        return (text[..colon], text[(colon + 1)..]);
    }

    /// <summary>Parses <c>--bare-line-endings</c>: <c>reject</c> or <c>normalize</c>, in any case.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The policy.</returns>
    public static BareLineEndingPolicy ParseBareLineEndings(string text, string setting) => text.Trim().ToLowerInvariant() switch
    {
        "reject" => BareLineEndingPolicy.Reject,
        "normalize" => BareLineEndingPolicy.Normalize,
        _ => throw new SettingException(setting, $"'{text}' is not reject or normalize"),
    };

    /// <summary>Parses a switch value: true/false, 1/0, yes/no or on/off.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The switch.</returns>
    public static bool ParseSwitch(string text, string setting) => text.Trim().ToLowerInvariant() switch
    {
        "" or "1" or "true" or "yes" or "on" => true,
        "0" or "false" or "no" or "off" => false,
        _ => throw new SettingException(setting, $"'{text}' is not true or false"),
    };

    /// <summary>Parses <c>--since</c>: an ISO 8601 time, or a duration back from now such as 10m or 2h.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <param name="now">The current time.</param>
    /// <returns>The earliest time to include.</returns>
    public static DateTimeOffset ParseSince(string text, string setting, DateTimeOffset now)
    {
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out var time) && text.Contains('-', StringComparison.Ordinal))
        {
            return time;
        }

        if (TryParseSpan(text, out var span))
        {
            return now - span;
        }

        throw new SettingException(setting, $"'{text}' is neither a time (2025-01-31T14:00) nor a duration back from now (30s, 10m, 2h, 1d)");
    }

    /// <summary>
    /// Parses <c>--retain-age</c>: a duration with s, m, h or d (<c>7d</c>), at least
    /// <see cref="Smtpd.Catcher.CatcherOptions.MinimumRetainAge"/>; <c>0</c> keeps messages of any age.
    /// </summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The age, or <see langword="null"/> for no limit.</returns>
    public static TimeSpan? ParseRetainAge(string text, string setting)
    {
        if (text.Trim() == "0")
        {
            return null;
        }

        if (!TryParseSpan(text, out var age) || age < Smtpd.Catcher.CatcherOptions.MinimumRetainAge)
        {
            throw new SettingException(setting, $"'{text}' is not an age of at least one minute; use a number with m, h or d, e.g. 7d, 12h or 30m (0 keeps any age)");
        }

        return age;
    }

    /// <summary>Parses <c>--retain-size</c>: a size as <see cref="ParseSize"/> reads it (<c>2G</c>), or <c>0</c> for no limit.</summary>
    /// <param name="text">The value.</param>
    /// <param name="setting">The setting, for the error.</param>
    /// <returns>The size in octets; 0 for no limit.</returns>
    public static long ParseRetainSize(string text, string setting) => text.Trim() == "0" ? 0 : ParseSize(text, setting);

    /// <summary>Parses a positive number of seconds, or a number with ms, s, m, h or d.</summary>
    private static bool TryParseSpan(string text, out TimeSpan span)
    {
        var value = text.Trim().ToLowerInvariant();
        var (digits, unit) = value.EndsWith("ms", StringComparison.Ordinal) ? (value[..^2], 0.001)
            : value.EndsWith('s') ? (value[..^1], 1.0)
            : value.EndsWith('m') ? (value[..^1], 60.0)
            : value.EndsWith('h') ? (value[..^1], 3600.0)
            : value.EndsWith('d') ? (value[..^1], 86400.0)
            : (value, 1.0);
        span = TimeSpan.Zero;
        if (!double.TryParse(digits, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) || number <= 0 || number * unit > TimeSpan.MaxValue.TotalSeconds / 2)
        {
            return false;
        }

        span = TimeSpan.FromSeconds(number * unit);
        return span > TimeSpan.Zero;
    }
}
