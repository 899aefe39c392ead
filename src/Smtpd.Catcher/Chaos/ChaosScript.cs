using System.Globalization;
using Smtpd.Catcher.Http.Live;
using Smtpd.Testing;

namespace Smtpd.Catcher.Chaos;

/// <summary>
/// A deterministic fault, written as one line: <c>POINT ACTION [xN|always] [after N]</c>. POINT is where it acts
/// (<c>connect</c>, <c>ehlo</c>, <c>helo</c>, <c>starttls</c>, <c>auth</c>, <c>mail</c>, <c>rcpt</c>, <c>data</c>,
/// <c>bdat</c>, <c>rset</c>, <c>noop</c>, <c>quit</c>, <c>vrfy</c>, <c>expn</c>, <c>help</c>, or <c>message</c> for
/// the reply after the content; Mailpit's <c>sender</c>, <c>recipient</c> and <c>authentication</c> name MAIL, RCPT
/// and AUTH). ACTION is a reply code with an optional enhanced code (<c>452</c>, <c>452 4.2.2</c>),
/// <c>disconnect</c>, or <c>delay=DURATION</c> (<c>delay=2s</c>). <c>xN</c> is how many hits it acts on (default 1),
/// <c>always</c> every hit, and <c>after N</c> lets N hits through first. <c>rcpt 452 x2</c> answers the next two
/// RCPT commands with 452.
/// </summary>
internal sealed record ChaosScript(SmtpFaultPoint Point, SmtpFaultKind Kind, int Code, string? EnhancedCode, TimeSpan Delay, int Times, int Skip)
{
    /// <summary>The longest script line read: a script is a handful of words.</summary>
    public const int MaxLength = 200;

    private static readonly Dictionary<string, SmtpFaultPoint> Points = new(StringComparer.OrdinalIgnoreCase)
    {
        ["connect"] = SmtpFaultPoint.Connect,
        ["ehlo"] = SmtpFaultPoint.Ehlo,
        ["lhlo"] = SmtpFaultPoint.Ehlo,
        ["helo"] = SmtpFaultPoint.Helo,
        ["starttls"] = SmtpFaultPoint.StartTls,
        ["auth"] = SmtpFaultPoint.Auth,
        ["authentication"] = SmtpFaultPoint.Auth,
        ["mail"] = SmtpFaultPoint.Mail,
        ["sender"] = SmtpFaultPoint.Mail,
        ["rcpt"] = SmtpFaultPoint.Rcpt,
        ["recipient"] = SmtpFaultPoint.Rcpt,
        ["data"] = SmtpFaultPoint.Data,
        ["bdat"] = SmtpFaultPoint.Bdat,
        ["rset"] = SmtpFaultPoint.Rset,
        ["noop"] = SmtpFaultPoint.Noop,
        ["quit"] = SmtpFaultPoint.Quit,
        ["vrfy"] = SmtpFaultPoint.Vrfy,
        ["expn"] = SmtpFaultPoint.Expn,
        ["help"] = SmtpFaultPoint.Help,
        ["message"] = SmtpFaultPoint.Message,
    };

    /// <summary>Reads a script line.</summary>
    /// <param name="text">The line.</param>
    /// <returns>The fault it describes.</returns>
    /// <exception cref="FormatException">The line is not a script; the message says what is wrong, in one line.</exception>
    public static ChaosScript Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength)
        {
            throw new FormatException($"a chaos script is at most {MaxLength} characters");
        }

        var words = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (words.Length < 2)
        {
            throw new FormatException($"'{text.Trim()}' is not a chaos script: write POINT ACTION [xN|always] [after N], such as 'rcpt 452 x2'");
        }

        if (!Points.TryGetValue(words[0], out var point))
        {
            throw new FormatException($"'{words[0]}' is not a fault point: use one of {string.Join(", ", Points.Keys)}");
        }

        var next = 1;
        SmtpFaultKind kind;
        var code = 0;
        string? enhanced = null;
        var delay = TimeSpan.Zero;
        var action = words[next++];
        if (action.Equals("disconnect", StringComparison.OrdinalIgnoreCase))
        {
            kind = SmtpFaultKind.Disconnect;
        }
        else if (action.StartsWith("delay=", StringComparison.OrdinalIgnoreCase))
        {
            kind = SmtpFaultKind.Delay;
            if (!WaitDuration.TryParse(action["delay=".Length..], out delay) || delay <= TimeSpan.Zero || delay > TimeSpan.FromMinutes(10))
            {
                throw new FormatException($"'{action}' is not a delay: use delay=500ms, delay=2s or delay=1m (at most 10 minutes)");
            }
        }
        else if (action.Length == 3 && int.TryParse(action, NumberStyles.None, CultureInfo.InvariantCulture, out code) && code is >= 400 and <= 599)
        {
            kind = SmtpFaultKind.Reject;
            if (next < words.Length && IsEnhancedCode(words[next]))
            {
                enhanced = words[next++];
                if (enhanced[0] - '0' != code / 100)
                {
                    throw new FormatException($"the enhanced code {enhanced} does not match the class of {code}");
                }
            }
        }
        else
        {
            throw new FormatException($"'{action}' is not a fault: use a reply code from 400 to 599 (such as 452), disconnect, or delay=2s");
        }

        var times = 1;
        var skip = 0;
        while (next < words.Length)
        {
            var word = words[next++];
            if (word.Equals("always", StringComparison.OrdinalIgnoreCase))
            {
                times = SmtpFault.Unlimited;
            }
            else if (word.Length > 1 && (word[0] is 'x' or 'X') && TryCount(word[1..], out var count) && count >= 1)
            {
                times = count;
            }
            else if (word.Equals("after", StringComparison.OrdinalIgnoreCase) && next < words.Length && TryCount(words[next], out var after))
            {
                skip = after;
                next++;
            }
            else
            {
                throw new FormatException($"'{word}' is not understood: after the fault come xN (how many times), always, or after N (hits to let through)");
            }
        }

        return new ChaosScript(point, kind, code, enhanced, delay, times, skip);
    }

    /// <summary>Adds this fault to <paramref name="faults"/>.</summary>
    /// <param name="faults">The engine.</param>
    /// <returns>The fault, whose <see cref="SmtpFault.Fired"/> counts its hits.</returns>
    public SmtpFault AddTo(SmtpFaults faults) => Kind switch
    {
        SmtpFaultKind.Reject => faults.Reject(Point, Code, EnhancedCode, text: null, Times, Skip),
        SmtpFaultKind.Disconnect => faults.Disconnect(Point, Times, Skip),
        _ => faults.Delay(Point, Delay, Times, Skip),
    };

    private static bool TryCount(string text, out int count) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out count) && count <= 1_000_000;

    private static bool IsEnhancedCode(string word)
    {
        // RFC 3463 2: class "." subject "." detail; class is 4 or 5 here, subject up to 3 digits, detail up to 3.
        var parts = word.Split('.');
        return parts.Length == 3
            && parts[0] is "4" or "5"
            && parts[1].Length is >= 1 and <= 3 && parts[1].All(char.IsAsciiDigit)
            && parts[2].Length is >= 1 and <= 3 && parts[2].All(char.IsAsciiDigit);
    }
}
