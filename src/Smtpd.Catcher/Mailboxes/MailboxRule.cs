using System.Globalization;
using System.Net.Mail;

namespace Smtpd.Catcher.Mailboxes;

/// <summary>What a <see cref="MailboxRule"/> looks at.</summary>
public enum MailboxRuleKind
{
    /// <summary><c>to:alice@example.com</c>: an envelope recipient (RCPT TO, so Bcc recipients count) is this address, in any letter case.</summary>
    Recipient,

    /// <summary><c>to:@example.com</c>: an envelope recipient's domain is this domain, in any letter case (subdomains are not included).</summary>
    RecipientDomain,

    /// <summary><c>user:ci</c>: the client authenticated (SMTP AUTH) as exactly this identity.</summary>
    User,

    /// <summary><c>port:2526</c>: the message came in on the listener with this port.</summary>
    Port,

    /// <summary>
    /// <c>keep:100</c>: not a route but the mailbox's retention: only its newest <see cref="MailboxRule.Keep"/>
    /// messages stay in it.
    /// </summary>
    Keep,
}

/// <summary>
/// One rule of a named mailbox, <c>NAME=KIND:VALUE</c> as the <c>--mailbox</c> flag takes it. A message belongs to
/// every mailbox one of whose routing rules it matches; the rules are evaluated once, when the message is stored, and a
/// message in several mailboxes is still stored once. docs/cli.md ("Mailboxes") describes the syntax.
/// </summary>
/// <example><code>
/// options.Mailboxes.Add(MailboxRule.Parse("dev=to:@dev.example"));
/// options.Mailboxes.Add(MailboxRule.Parse("dev=keep:500"));
/// options.Mailboxes.Add(MailboxRule.Parse("ci=user:ci"));
/// </code></example>
public sealed class MailboxRule
{
    /// <summary>The longest mailbox name: a name goes into URLs and UI labels, and 64 characters is ample for a developer, tenant or test.</summary>
    public const int MaxNameLength = 64;

    private MailboxRule(string mailbox, MailboxRuleKind kind, string value, int number)
    {
        Mailbox = mailbox;
        Kind = kind;
        Value = value;
        Number = number;
    }

    /// <summary>The mailbox name, in lower case: letters, digits, <c>.</c>, <c>_</c> and <c>-</c>, starting with a letter or digit.</summary>
    public string Mailbox { get; }

    /// <summary>What the rule looks at.</summary>
    public MailboxRuleKind Kind { get; }

    /// <summary>The value as given after the kind: an address, <c>@domain</c>, a user, a port or a count.</summary>
    public string Value { get; }

    /// <summary>The port of a <see cref="MailboxRuleKind.Port"/> rule; 0 otherwise.</summary>
    public int Port => Kind == MailboxRuleKind.Port ? Number : 0;

    /// <summary>The count of a <see cref="MailboxRuleKind.Keep"/> rule; 0 otherwise.</summary>
    public int Keep => Kind == MailboxRuleKind.Keep ? Number : 0;

    private int Number { get; }

    /// <summary>Parses <c>NAME=KIND:VALUE</c>.</summary>
    /// <param name="text">The rule, such as <c>dev=to:@dev.example</c>, <c>alice=to:alice@example.com</c>, <c>ci=user:ci</c>, <c>ops=port:2526</c> or <c>dev=keep:500</c>.</param>
    /// <returns>The rule.</returns>
    /// <exception cref="FormatException">The text is not a rule; the message says why, in one line.</exception>
    public static MailboxRule Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var equals = text.IndexOf('=', StringComparison.Ordinal);
        if (equals < 0)
        {
            throw new FormatException($"'{text}' is not NAME=RULE, e.g. dev=to:@dev.example, alice=to:alice@example.com, ci=user:ci, ops=port:2526 or dev=keep:500");
        }

        var name = text[..equals].Trim().ToLowerInvariant();
        if (!IsValidName(name))
        {
            throw new FormatException($"'{text[..equals]}' is not a mailbox name: 1 to {MaxNameLength} letters, digits, '.', '_' or '-', starting with a letter or digit");
        }

        var rule = text[(equals + 1)..].Trim();
        var colon = rule.IndexOf(':', StringComparison.Ordinal);
        var kind = colon < 0 ? rule : rule[..colon].Trim().ToLowerInvariant();
        var value = colon < 0 ? string.Empty : rule[(colon + 1)..].Trim();
        if (colon < 0 || value.Length == 0)
        {
            throw new FormatException($"'{rule}' is not KIND:VALUE, where KIND is to, user, port or keep (e.g. to:@dev.example)");
        }

        return kind switch
        {
            "to" => Recipient(name, value),
            "user" => value.Any(char.IsControl)
                ? throw new FormatException($"user:{value} has a control character")
                : new MailboxRule(name, MailboxRuleKind.User, value, 0),
            "port" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 1 and <= 65535
                ? new MailboxRule(name, MailboxRuleKind.Port, value, port)
                : throw new FormatException($"port:{value} is not a port from 1 to 65535"),
            "keep" => int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var keep) && keep >= 1
                ? new MailboxRule(name, MailboxRuleKind.Keep, value, keep)
                : throw new FormatException($"keep:{value} is not a whole number of messages, 1 or more"),
            _ => throw new FormatException($"'{kind}' is not a rule kind: use to, user, port or keep"),
        };
    }

    /// <summary>Whether <paramref name="name"/> is a valid mailbox name (in lower case, as <see cref="Mailbox"/> keeps it).</summary>
    /// <param name="name">The name.</param>
    /// <returns>Whether it is valid.</returns>
    public static bool IsValidName(string? name)
    {
        if (name is null || name.Length is 0 or > MaxNameLength || !IsNameStart(name[0]))
        {
            return false;
        }

        foreach (var c in name)
        {
            if (!IsNameStart(c) && c is not ('.' or '_' or '-'))
            {
                return false;
            }
        }

        return true;

        static bool IsNameStart(char c) => c is (>= 'a' and <= 'z') or (>= '0' and <= '9');
    }

    /// <summary>The rule as <see cref="Parse"/> reads it.</summary>
    /// <returns><c>NAME=KIND:VALUE</c>.</returns>
    public override string ToString() => $"{Mailbox}={KindText}:{Value}";

    /// <summary>The rule without the name, <c>KIND:VALUE</c>, as <c>GET /api/v1/mailboxes</c> lists it.</summary>
    internal string RuleText => $"{KindText}:{Value}";

    private string KindText => Kind switch
    {
        MailboxRuleKind.Recipient or MailboxRuleKind.RecipientDomain => "to",
        MailboxRuleKind.User => "user",
        MailboxRuleKind.Port => "port",
        _ => "keep",
    };

    /// <summary>Whether a message with this envelope and session belongs to the mailbox by this rule.</summary>
    /// <param name="recipients">The envelope recipients.</param>
    /// <param name="user">The AUTH identity, if any.</param>
    /// <param name="port">The listener port, if the message came over SMTP.</param>
    /// <returns>Whether it matches; a <see cref="MailboxRuleKind.Keep"/> rule matches nothing.</returns>
    internal bool Matches(IReadOnlyList<string> recipients, string? user, int? port) => Kind switch
    {
        MailboxRuleKind.Recipient => recipients.Any(r => string.Equals(r, Value, StringComparison.OrdinalIgnoreCase)),
        MailboxRuleKind.RecipientDomain => recipients.Any(r => r.EndsWith(Value, StringComparison.OrdinalIgnoreCase)),
        MailboxRuleKind.User => string.Equals(user, Value, StringComparison.Ordinal),
        MailboxRuleKind.Port => port == Number,
        _ => false,
    };

    private static MailboxRule Recipient(string name, string value)
    {
        if (value.StartsWith('@'))
        {
            // "@domain": the recipient's text ends with it, and the @ in the value makes that the whole domain.
            var domain = value[1..];
            if (domain.Length == 0 || domain.Contains('@', StringComparison.Ordinal) || domain.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            {
                throw new FormatException($"to:{value} is not @DOMAIN, e.g. to:@dev.example");
            }

            return new MailboxRule(name, MailboxRuleKind.RecipientDomain, value, 0);
        }

        // RFC 5321 4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ); MailAddress checks the shape.
        if (value.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)) || !MailAddress.TryCreate(value, out var parsed) || parsed.Address != value)
        {
            throw new FormatException($"to:{value} is not an address (to:alice@example.com) or a domain (to:@example.com)");
        }

        return new MailboxRule(name, MailboxRuleKind.Recipient, value, 0);
    }
}
