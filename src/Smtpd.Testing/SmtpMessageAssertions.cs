using System.Text;

namespace Smtpd.Testing;

/// <summary>
/// Assertions over received messages that work with any test framework: they throw
/// <see cref="SmtpAssertionException"/> with a list of what did arrive.
/// </summary>
/// <example>
/// <code>
/// var welcome = smtp.Messages.AssertMessageTo("bob@example.com", m =&gt; m.Subject == "Welcome");
/// smtp.Messages.AssertNoMessageTo("mallory@example.com");
/// </code>
/// </example>
public static class SmtpMessageAssertions
{
    /// <summary>Asserts that a message was sent to <paramref name="address"/> (an envelope recipient, Bcc included).</summary>
    /// <param name="messages">The messages, usually <see cref="SmtpTestServer.Messages"/>.</param>
    /// <param name="address">The recipient address, compared without regard to letter case.</param>
    /// <param name="predicate">A further condition on the message; <see langword="null"/> for none.</param>
    /// <returns>The first such message.</returns>
    /// <exception cref="SmtpAssertionException">There is none.</exception>
    public static SmtpReceivedMessage AssertMessageTo(this IEnumerable<SmtpReceivedMessage> messages, string address, Func<SmtpReceivedMessage, bool>? predicate = null)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(address);
        var list = messages.ToArray();
        return list.FirstOrDefault(m => m.IsTo(address) && (predicate is null || predicate(m)))
            ?? throw new SmtpAssertionException(Describe($"Expected a message to {address}{(predicate is null ? string.Empty : " matching the condition")}", list));
    }

    /// <summary>Asserts that no message was sent to <paramref name="address"/>.</summary>
    /// <param name="messages">The messages, usually <see cref="SmtpTestServer.Messages"/>.</param>
    /// <param name="address">The recipient address, compared without regard to letter case.</param>
    /// <exception cref="SmtpAssertionException">There is one.</exception>
    public static void AssertNoMessageTo(this IEnumerable<SmtpReceivedMessage> messages, string address)
    {
        ArgumentNullException.ThrowIfNull(messages);
        ArgumentNullException.ThrowIfNull(address);
        var list = messages.ToArray();
        if (list.Any(m => m.IsTo(address)))
        {
            throw new SmtpAssertionException(Describe($"Expected no message to {address}", list));
        }
    }

    /// <summary>Asserts that exactly <paramref name="count"/> messages arrived.</summary>
    /// <param name="messages">The messages, usually <see cref="SmtpTestServer.Messages"/>.</param>
    /// <param name="count">How many.</param>
    /// <returns>The messages.</returns>
    /// <exception cref="SmtpAssertionException">A different number arrived.</exception>
    public static IReadOnlyList<SmtpReceivedMessage> AssertCount(this IEnumerable<SmtpReceivedMessage> messages, int count)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var list = messages.ToArray();
        return list.Length == count ? list : throw new SmtpAssertionException(Describe($"Expected {Plural(count)}", list));
    }

    internal static string Describe(string expectation, IReadOnlyCollection<SmtpReceivedMessage> received)
    {
        var text = new StringBuilder(expectation).Append(", but ");
        if (received.Count == 0)
        {
            return text.Append("no message arrived.").ToString();
        }

        text.Append(received.Count == 1 ? "1 message" : $"{received.Count} messages").Append(" arrived:");
        var n = 0;
        foreach (var message in received)
        {
            text.AppendLine().Append("  ").Append(++n).Append(". ").Append(message);
        }

        return text.ToString();
    }

    internal static string Plural(int count) => count == 1 ? "1 message" : $"{count} messages";
}
