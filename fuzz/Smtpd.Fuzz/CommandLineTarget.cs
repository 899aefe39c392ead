using System.Text;

namespace Smtpd.Fuzz;

/// <summary>
/// The command-line parser: every LF-terminated line of the input within the 512-octet limit goes through
/// <c>CommandParser.Parse</c>, with and without SMTPUTF8 and with DSN on and off, and the result is checked against
/// the grammar.
/// </summary>
internal static class CommandLineTarget
{
    private static readonly string[] Verbs = ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "AUTH"];

    public static void Run(byte[] input)
    {
        var rest = input.AsSpan();
        while (!rest.IsEmpty)
        {
            var end = rest.IndexOf((byte)'\n');
            var line = end < 0 ? rest : rest[..end];
            rest = end < 0 ? [] : rest[(end + 1)..];
            if (line.Length + 1 <= 512)
            {
                CheckLine(line, smtpUtf8: false, dsn: false);
                CheckLine(line, smtpUtf8: true, dsn: false);
                CheckLine(line, smtpUtf8: false, dsn: true);
                CheckLine(line, smtpUtf8: true, dsn: true);
            }
        }
    }

    private static void CheckLine(ReadOnlySpan<byte> line, bool smtpUtf8, bool dsn)
    {
        var command = dsn ? Internals.Parse(null, line, smtpUtf8, dsn: true) : Internals.Parse(null, line, smtpUtf8);
        var again = dsn ? Internals.Parse(null, line, smtpUtf8, dsn: true) : Internals.Parse(null, line, smtpUtf8);
        Check.That(command.GetType() == again.GetType(), "parsing is deterministic");

        var text = line.EndsWith("\r"u8) ? line[..^1] : line;
        var verb = ReferenceVerb(text);
        var kind = command.GetType().Name;
        if (verb is null)
        {
            // An HTTP request line is refused as ForbiddenCommand (cross-protocol requests); anything else is unknown.
            Check.That(kind is "UnknownCommand" or "ForbiddenCommand", $"an unknown verb parses as UnknownCommand or ForbiddenCommand, not {kind}");
            return;
        }

        Check.That(kind != "UnknownCommand", $"the known verb {verb} is not UnknownCommand");
        if (text.IndexOfAnyInRange((byte)0, (byte)31) >= 0 || text.Contains((byte)127))
        {
            Check.That(kind == "InvalidCommand", $"a control character makes {verb} invalid, not {kind}");
        }

        switch (kind)
        {
            case "InvalidCommand":
                var reply = Internals.InvalidReply(command);
                Check.That(reply.Code is >= 500 and < 600, "a syntax error is a 5xx reply");
                Check.That(reply.Lines.All(l => l.All(c => c is >= ' ' and < '\x7f')), "reply text is printable ASCII");
                break;
            case "MailCommand":
                Check.That(verb == "MAIL", "MailCommand comes from MAIL");
                if (Internals.MailSender(command) is { } sender)
                {
                    // The SMTPUTF8 parameter of this very MAIL is what permits a UTF-8 sender (RFC 6531 3.4).
                    PathTarget.CheckMailbox(sender, Internals.MailSmtpUtf8(command));
                }

                Check.That(Internals.MailDeclaredSize(command) is null or >= 0, "SIZE is never negative");
                if (Internals.MailDsnEnvelopeId(command) is { } envid)
                {
                    Check.That(dsn, "ENVID is taken only with DSN on");
                    Check.That(envid.Length is >= 1 and <= 100 && envid.All(c => c is >= ' ' and < '\x7f'), "ENVID decodes to 1 to 100 printable ASCII characters (RFC 3461 4.4)");
                }

                break;
            case "RcptCommand":
                Check.That(verb == "RCPT", "RcptCommand comes from RCPT");
                var recipient = Internals.RcptRecipient(command);
                PathTarget.CheckMailbox(recipient, smtpUtf8);
                if (recipient.Dsn is { } rcptDsn)
                {
                    Check.That(dsn, "NOTIFY and ORCPT are taken only with DSN on");
                    Check.That(rcptDsn.Notify != SmtpDsnNotify.None || rcptDsn.OriginalRecipientType is not null, "a recipient's DSN parameters are never empty");
                    Check.That(!rcptDsn.Notify.HasFlag(SmtpDsnNotify.Never) || rcptDsn.Notify == SmtpDsnNotify.Never, "NEVER stands alone (RFC 3461 4.1)");
                    Check.That(rcptDsn.OriginalRecipient is null || (rcptDsn.OriginalRecipient.Length is >= 1 and <= 500 && !rcptDsn.OriginalRecipient.Any(char.IsControl)), "ORCPT decodes to 1 to 500 characters, none a control character");
                }

                break;
            case "HeloCommand":
                Check.That(verb is "HELO" or "EHLO", "HeloCommand comes from HELO or EHLO");
                var domain = Internals.HeloDomain(command);
                Check.That(domain.Length > 0 && !domain.Any(c => c <= ' ' || c == '\x7f'), "the HELO name is one printable token");
                break;
            case "BdatCommand":
                Check.That(verb == "BDAT", "BdatCommand comes from BDAT");
                var size = Internals.BdatSize(command);
                var digits = Encoding.ASCII.GetString(text[5..]).Split(' ')[0];
                Check.That(size >= 0 && size.ToString(System.Globalization.CultureInfo.InvariantCulture) == digits.TrimStart('0').PadLeft(1, '0'), $"BDAT size {size} is the number written ({digits})");
                break;
            case "AuthCommand":
                Check.That(verb == "AUTH", "AuthCommand comes from AUTH");
                var mechanism = Internals.AuthMechanism(command);
                Check.That(mechanism.Length is >= 1 and <= 20 && mechanism.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c is '-' or '_'), "the SASL mechanism is 1*20 mech-char");
                Check.That(Internals.AuthInitialResponse(command)?.Contains(' ', StringComparison.Ordinal) != true, "an initial response has no space");
                break;
            default:
                break;
        }
    }

    /// <summary>The verb a line carries by RFC 5321 4.1.1: four letters (any case) then a space or the end; or STARTTLS.</summary>
    private static string? ReferenceVerb(ReadOnlySpan<byte> line)
    {
        if (line.Length >= 8 && (line.Length == 8 || line[8] == ' ') && Ascii.EqualsIgnoreCase(line[..8], "STARTTLS"u8))
        {
            return "STARTTLS";
        }

        if (line.Length < 4 || (line.Length > 4 && line[4] != ' '))
        {
            return null;
        }

        foreach (var verb in Verbs)
        {
            if (Ascii.EqualsIgnoreCase(line[..4], Encoding.ASCII.GetBytes(verb)))
            {
                return verb;
            }
        }

        return null;
    }
}
