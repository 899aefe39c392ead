using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Mailboxes;

/// <summary>
/// The configured mailboxes: their names, their retention and the routing of a new message. Built once when the
/// catcher starts from <see cref="CatcherOptions.Mailboxes"/>.
/// </summary>
internal sealed class MailboxRouter
{
    private readonly MailboxRule[] _routes;

    private MailboxRouter(MailboxRule[] routes, IReadOnlyList<string> names, IReadOnlyDictionary<string, int> keep, IReadOnlyDictionary<string, IReadOnlyList<string>> rules)
    {
        _routes = routes;
        Names = names;
        Keep = keep;
        Rules = rules;
    }

    /// <summary>A router with no mailboxes: every message is in the default mailbox only.</summary>
    public static MailboxRouter None { get; } = new([], [], new Dictionary<string, int>(), new Dictionary<string, IReadOnlyList<string>>());

    /// <summary>The mailbox names, in ordinal order.</summary>
    public IReadOnlyList<string> Names { get; }

    /// <summary>The mailboxes with a <c>keep:</c> rule, and how many messages each keeps.</summary>
    public IReadOnlyDictionary<string, int> Keep { get; }

    /// <summary>Each mailbox's rules as <c>KIND:VALUE</c>, in the order given.</summary>
    public IReadOnlyDictionary<string, IReadOnlyList<string>> Rules { get; }

    /// <summary>Whether any mailbox is configured.</summary>
    public bool IsEmpty => Names.Count == 0;

    /// <summary>Builds the router, checking that the rules make sense together.</summary>
    /// <param name="rules">The rules.</param>
    /// <returns>The router.</returns>
    /// <exception cref="FormatException">A mailbox has only a <c>keep:</c> rule (nothing could reach it), or two different ones.</exception>
    public static MailboxRouter Create(IEnumerable<MailboxRule> rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var all = rules.ToArray();
        if (all.Length == 0)
        {
            return None;
        }

        var keep = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var rule in all.Where(r => r.Kind == MailboxRuleKind.Keep))
        {
            if (keep.TryGetValue(rule.Mailbox, out var earlier) && earlier != rule.Keep)
            {
                throw new FormatException($"mailbox {rule.Mailbox} has two keep rules, keep:{earlier} and keep:{rule.Keep}");
            }

            keep[rule.Mailbox] = rule.Keep;
        }

        var routes = all.Where(r => r.Kind != MailboxRuleKind.Keep).ToArray();
        foreach (var name in keep.Keys.Where(n => !routes.Any(r => r.Mailbox == n)))
        {
            throw new FormatException($"mailbox {name} has only keep:, so no message could reach it: add a to:, user: or port: rule");
        }

        var names = routes.Select(r => r.Mailbox).Distinct().Order(StringComparer.Ordinal).ToArray();
        var texts = names.ToDictionary(n => n, n => (IReadOnlyList<string>)all.Where(r => r.Mailbox == n).Select(r => r.RuleText).ToArray(), StringComparer.Ordinal);
        return new MailboxRouter(routes, names, keep, texts);
    }

    /// <summary>Whether <paramref name="name"/> is a configured mailbox.</summary>
    /// <param name="name">The name, in any letter case.</param>
    /// <param name="canonical">The name as configured (lower case).</param>
    /// <returns>Whether it is configured.</returns>
    public bool TryFind(string name, out string canonical)
    {
        var lower = name.Trim().ToLowerInvariant();
        canonical = Names.FirstOrDefault(n => n == lower) ?? string.Empty;
        return canonical.Length > 0;
    }

    /// <summary>The mailboxes a new message belongs to, in ordinal order; empty when none of the rules matches.</summary>
    /// <param name="record">The message's record (its envelope recipients, AUTH user and listener port).</param>
    /// <returns>The names.</returns>
    public IReadOnlyList<string> Route(MessageRecord record)
    {
        if (_routes.Length == 0)
        {
            return [];
        }

        List<string>? names = null;
        foreach (var rule in _routes)
        {
            if ((names is null || !names.Contains(rule.Mailbox)) && rule.Matches(record.Recipients, record.User, record.ListenerPort))
            {
                (names ??= []).Add(rule.Mailbox);
            }
        }

        if (names is null)
        {
            return [];
        }

        names.Sort(StringComparer.Ordinal);
        return names;
    }
}
