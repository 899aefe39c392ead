using System.Globalization;

namespace Smtpd.Catcher.Http.Security;

/// <summary>One <c>user:hash</c> line of an htpasswd file.</summary>
/// <param name="User">The user name.</param>
/// <param name="Hash">The bcrypt hash, <c>$2y$NN$</c> and 53 characters of salt and digest.</param>
internal readonly record struct HtpasswdEntry(string User, string Hash);

/// <summary>
/// Reads htpasswd files as Apache's <c>htpasswd -B</c> and Mailpit's <c>--ui-auth-file</c> write them, accepting bcrypt
/// only: the other schemes htpasswd knows (<c>$apr1$</c> MD5, <c>{SHA}</c>, crypt, plain text) are fast hashes that a
/// stolen file gives up in seconds, so each is refused with the line that uses it and how to regenerate it.
/// </summary>
internal static class Htpasswd
{
    /// <summary>The bcrypt versions accepted: <c>2y</c> (PHP, htpasswd), <c>2a</c> and <c>2b</c> (OpenBSD, Go) compute the same hash.</summary>
    private static readonly string[] BcryptPrefixes = ["$2y$", "$2a$", "$2b$"];

    /// <summary>Prefixes of schemes htpasswd can write that are refused, with the name the error gives them.</summary>
    private static readonly (string Prefix, string Name)[] RefusedSchemes =
    [
        ("$apr1$", "Apache MD5 ($apr1$)"),
        ("$1$", "MD5-crypt ($1$)"),
        ("$5$", "SHA-256-crypt ($5$)"),
        ("$6$", "SHA-512-crypt ($6$)"),
        ("$2x$", "bcrypt with the 2x bug flag ($2x$)"),
        ("{SHA}", "SHA-1 ({SHA})"),
        ("{SSHA}", "salted SHA-1 ({SSHA})"),
    ];

    /// <summary>The length of a bcrypt hash: <c>$2y$</c>, two cost digits, <c>$</c>, 22 salt and 31 digest characters.</summary>
    private const int BcryptLength = 60;

    /// <summary>Parses every line.</summary>
    /// <param name="reader">The file's text.</param>
    /// <param name="sourceName">What errors call the source.</param>
    /// <returns>The entries, in file order.</returns>
    /// <exception cref="FormatException">A line that is not <c>user:bcrypt-hash</c>.</exception>
    public static List<HtpasswdEntry> Parse(TextReader reader, string sourceName)
    {
        var entries = new List<HtpasswdEntry>();
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var trimmed = line.Trim();
            if (trimmed.Length == 0 || trimmed[0] == '#')
            {
                continue;
            }

            entries.Add(ParseLine(trimmed, sourceName, lineNumber));
        }

        return entries;
    }

    private static HtpasswdEntry ParseLine(string line, string sourceName, int lineNumber)
    {
        var colon = line.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw Error(sourceName, lineNumber, "is not user:hash");
        }

        var user = line[..colon];
        var hash = line[(colon + 1)..];
        if (!BcryptPrefixes.Any(prefix => hash.StartsWith(prefix, StringComparison.Ordinal)))
        {
            var scheme = RefusedSchemes.FirstOrDefault(s => hash.StartsWith(s.Prefix, StringComparison.Ordinal)).Name
                ?? "plain text or crypt(3)";
            throw Error(sourceName, lineNumber, $"gives user '{user}' a {scheme} password; only bcrypt ($2y$, $2a$, $2b$) is accepted: regenerate it with 'htpasswd -B'");
        }

        if (!IsWellFormedBcrypt(hash))
        {
            throw Error(sourceName, lineNumber, $"gives user '{user}' a malformed bcrypt hash: expected $2y$NN$ (cost 04 to 31) and 53 characters of [./A-Za-z0-9]");
        }

        return new HtpasswdEntry(user, hash);
    }

    /// <summary>Checks the modular-crypt shape of a bcrypt hash, so a truncated line fails at startup, not at login.</summary>
    internal static bool IsWellFormedBcrypt(string hash)
    {
        if (hash.Length != BcryptLength || hash[6] != '$'
            || !int.TryParse(hash.AsSpan(4, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var cost) || cost is < 4 or > 31)
        {
            return false;
        }

        foreach (var c in hash.AsSpan(7))
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '/'))
            {
                return false;
            }
        }

        return true;
    }

    private static FormatException Error(string sourceName, int lineNumber, string what) =>
        new($"{sourceName} line {lineNumber.ToString(CultureInfo.InvariantCulture)} {what}.");
}
