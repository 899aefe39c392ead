using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Http.Live;

/// <summary>
/// An <see cref="ICatcherMessageQuery"/> over the store's own filters (<see cref="MessageStore.List"/>): the terms
/// <c>from:</c>, <c>to:</c> and <c>subject:</c>, each a case-insensitive substring, all of which must match. It
/// stands until the full search language (free text, <c>is:</c>, <c>tag:</c>, …) answers through the same interface.
/// </summary>
internal sealed class StoreMessageQuery : ICatcherMessageQuery
{
    private readonly string? _storePath;
    private readonly CatcherSummaryWriter _summaries;

    /// <summary>Creates the query.</summary>
    /// <param name="storePath">The store, as <see cref="MailCatcher.StorePath"/> names it; <see langword="null"/> when nothing is stored (a sink), so only new messages can match.</param>
    /// <param name="summaries">Writes each listed message's summary JSON.</param>
    public StoreMessageQuery(string? storePath, CatcherSummaryWriter summaries)
    {
        ArgumentNullException.ThrowIfNull(summaries);
        _storePath = storePath;
        _summaries = summaries;
    }

    /// <inheritdoc/>
    public string? Validate(string query) => StoreQueryText.TryParse(query, out _, out var error) ? null : error;

    /// <inheritdoc/>
    public async ValueTask<IReadOnlyList<CatcherMessageSummary>> ListAsync(string query, int limit, CancellationToken cancellationToken)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(limit, 1);
        var filter = Parse(query) with { Limit = limit };
        if (_storePath is not { } path)
        {
            return [];
        }

        // Microsoft.Data.Sqlite is synchronous: off the request's thread, on a connection of its own (WAL lets it
        // read while the writer commits).
        var records = await Task.Run(() =>
        {
            using var store = MessageStore.Open(path, readOnly: true);
            return store.List(filter);
        }, cancellationToken);
        return records.Select(r =>
        {
            var id = r.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return new CatcherMessageSummary(id, Read: false, _summaries(id, r));
        }).ToArray();
    }

    /// <inheritdoc/>
    public ValueTask<bool> MatchesAsync(string query, CatcherStoredMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        return ValueTask.FromResult(StoreQueryText.Matches(Parse(query), message.Record));
    }

    /// <inheritdoc/>
    public async ValueTask<CatcherMailboxStats> StatsAsync(CancellationToken cancellationToken)
    {
        if (_storePath is not { } path)
        {
            return new CatcherMailboxStats(0, 0, []);
        }

        var total = await Task.Run(() =>
        {
            using var store = MessageStore.Open(path, readOnly: true);
            return store.AllIds().Count;
        }, cancellationToken);
        // The store has no read status or tags yet: nothing can mark a message read, so every message is unread.
        return new CatcherMailboxStats(total, total, []);
    }

    private static MessageFilter Parse(string query) =>
        StoreQueryText.TryParse(query, out var filter, out var error) ? filter : throw new ArgumentException(error, nameof(query));
}

/// <summary>The small query language of <see cref="StoreMessageQuery"/>: <c>from:</c>, <c>to:</c> and <c>subject:</c> terms.</summary>
internal static class StoreQueryText
{
    private static readonly System.Buffers.SearchValues<char> Whitespace = System.Buffers.SearchValues.Create(" \t\r\n");

    /// <summary>Parses a query: terms separated by spaces, each <c>field:value</c> or <c>field:"a value"</c>.</summary>
    /// <param name="query">The text; empty matches everything.</param>
    /// <param name="filter">The store filter it means.</param>
    /// <param name="error">Why it is not a query, in one line.</param>
    /// <returns>Whether it parsed.</returns>
    public static bool TryParse(string query, out MessageFilter filter, out string error)
    {
        filter = new MessageFilter();
        error = string.Empty;
        var text = query.AsSpan().Trim();
        while (!text.IsEmpty)
        {
            var colon = text.IndexOf(':');
            var space = text.IndexOfAny(Whitespace);
            if (colon <= 0 || (space >= 0 && space < colon))
            {
                var word = space < 0 ? text : text[..space];
                error = $"'{word}' is not a term; this catcher's wait understands from:, to: and subject: (e.g. subject:\"Your code\")";
                return false;
            }

            var field = text[..colon].ToString().ToLowerInvariant();
            text = text[(colon + 1)..];
            string value;
            if (text.StartsWith('"'))
            {
                var close = text[1..].IndexOf('"');
                if (close < 0)
                {
                    error = $"the quoted value of {field}: has no closing quote";
                    return false;
                }

                value = text.Slice(1, close).ToString();
                text = text[(close + 2)..].TrimStart();
            }
            else
            {
                var end = text.IndexOfAny(Whitespace);
                value = (end < 0 ? text : text[..end]).ToString();
                text = end < 0 ? [] : text[end..].TrimStart();
            }

            if (value.Length == 0)
            {
                error = $"{field}: needs a value";
                return false;
            }

            switch (field)
            {
                case "from" when filter.From is null:
                    filter = filter with { From = value };
                    break;
                case "to" when filter.To is null:
                    filter = filter with { To = value };
                    break;
                case "subject" when filter.Subject is null:
                    filter = filter with { Subject = value };
                    break;
                case "from" or "to" or "subject":
                    error = $"{field}: appears twice; this catcher's wait takes one of each";
                    return false;
                default:
                    error = $"'{field}:' is not a field; this catcher's wait understands from:, to: and subject:";
                    return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Whether a message matches a filter, exactly as the store's SQL decides: a substring test with only ASCII
    /// letters folded (SQLite's <c>lower()</c>), sender against MAIL FROM or the From header, recipient against any
    /// RCPT or the To header.
    /// </summary>
    /// <param name="filter">The filter.</param>
    /// <param name="record">The message.</param>
    /// <returns>Whether it matches.</returns>
    public static bool Matches(MessageFilter filter, MessageRecord record)
    {
        ArgumentNullException.ThrowIfNull(filter);
        ArgumentNullException.ThrowIfNull(record);
        return (filter.From is not { } from || Contains(record.MailFrom, from) || Contains(record.HeaderFrom, from))
            && (filter.To is not { } to || record.Recipients.Any(r => Contains(r, to)) || Contains(record.HeaderTo, to))
            && (filter.Subject is not { } subject || Contains(record.Subject, subject))
            && (filter.Since is not { } since || record.ReceivedAt >= since);
    }

    private static bool Contains(string? text, string value) =>
        text is not null && LowerAscii(text).Contains(LowerAscii(value), StringComparison.Ordinal);

    private static string LowerAscii(string text) => string.Create(text.Length, text, static (span, source) =>
    {
        for (var i = 0; i < source.Length; i++)
        {
            var c = source[i];
            span[i] = c is >= 'A' and <= 'Z' ? (char)(c + 32) : c;
        }
    });
}
