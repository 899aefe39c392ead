using System.Text;

namespace Smtpd.Fuzz;

/// <summary>
/// The path and parameter grammar (RFC 5321 4.1.2, RFC 1870, 6152, 6531): the input follows <c>MAIL FROM:</c> and
/// <c>RCPT TO:</c>. Every accepted mailbox must be one that is safe to put in a header, a log or a database, and must
/// parse back to itself.
/// </summary>
internal static class PathTarget
{
    public static void Run(byte[] input)
    {
        foreach (var smtpUtf8 in new[] { false, true })
        {
            var mail = Internals.Parse(null, [.. "MAIL FROM:"u8, .. input], smtpUtf8);
            if (mail.GetType().Name == "MailCommand" && Internals.MailSender(mail) is { } sender)
            {
                CheckMailbox(sender, utf8Allowed: true);
                RoundTrip("MAIL FROM:", sender, smtpUtf8);
            }

            var rcpt = Internals.Parse(null, [.. "RCPT TO:"u8, .. input], smtpUtf8);
            if (rcpt.GetType().Name == "RcptCommand")
            {
                var recipient = Internals.RcptRecipient(rcpt);
                CheckMailbox(recipient, smtpUtf8);
                RoundTrip("RCPT TO:", recipient, smtpUtf8);
            }
        }
    }

    /// <summary>What every accepted mailbox satisfies, whatever the client sent.</summary>
    public static void CheckMailbox(SmtpMailbox mailbox, bool utf8Allowed)
    {
        Check.That(!mailbox.Address.Any(c => c < ' ' || c == '\x7f'), "no control character in an address");
        Check.That(Encoding.UTF8.GetByteCount(mailbox.LocalPart) <= 64, "local part within 64 octets");
        Check.That(Encoding.UTF8.GetByteCount(mailbox.Domain) <= 255, "domain within 255 octets");
        Check.That(utf8Allowed || !mailbox.IsInternationalized, "UTF-8 only with SMTPUTF8");
        Check.That(!mailbox.Address.Contains('\uFFFD', StringComparison.Ordinal), "no replacement character: only valid UTF-8 is accepted");
        var local = mailbox.LocalPart;
        if (local.StartsWith('"'))
        {
            Check.That(local.Length >= 2 && local.EndsWith('"'), "a quoted local part is closed");
        }
        else
        {
            Check.That(local.Length > 0 && local.IndexOfAny([' ', '<', '>', '(', ')', ',', ';', ':', '\\', '"', '[', ']', '@']) < 0, $"a dot-string local part has no specials: {local}");
            Check.That(!local.StartsWith('.') && !local.EndsWith('.') && !local.Contains("..", StringComparison.Ordinal), "a dot-string has no empty atom");
        }

        var domain = mailbox.Domain;
        if (domain.Length == 0)
        {
            Check.That(mailbox.IsPostmaster, "only Postmaster has no domain");
        }
        else if (domain.StartsWith('['))
        {
            Check.That(domain.EndsWith(']') && domain.IndexOfAny([' ', '[', ']', '\\'], 1, domain.Length - 2) < 0, "an address literal is one bracketed token");
        }
        else
        {
            foreach (var label in domain.Split('.'))
            {
                Check.That(label.Length > 0 && label[0] != '-' && label[^1] != '-' && label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-' || c > '\x7f'), $"a domain label is letters, digits and inner hyphens: {domain}");
            }
        }
    }

    /// <summary>An accepted mailbox, written back in angle brackets, parses to the same mailbox.</summary>
    private static void RoundTrip(string keyword, SmtpMailbox mailbox, bool smtpUtf8)
    {
        var line = Encoding.UTF8.GetBytes($"{keyword}<{mailbox.Address}>{(mailbox.IsInternationalized && keyword[0] == 'M' ? " SMTPUTF8" : string.Empty)}");
        var again = Internals.Parse(null, line, smtpUtf8 || mailbox.IsInternationalized);
        var back = again.GetType().Name switch
        {
            "MailCommand" => Internals.MailSender(again),
            "RcptCommand" => Internals.RcptRecipient(again),
            _ => null,
        };
        Check.That(back is not null && back.Address == mailbox.Address, $"{mailbox.Address} parses back to itself");
    }
}
