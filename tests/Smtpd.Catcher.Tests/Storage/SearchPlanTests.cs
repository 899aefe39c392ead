using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Search;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Tests.Search;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The store picks a plan per search (MessageStore.Page): a newest-first scan of a window of ids, or the indexes.
/// Both must answer the same page, and counts kept up to date from the rows added since must equal a full count.
/// </summary>
public sealed class SearchPlanTests : IDisposable
{
    private static readonly string[] Queries =
    [
        "invoice", "subject:invoice", "from:alice", "from:al", "to:bob@", "bcc:grace", "-invoice", "is:unread", "tag:urgent",
        "is:tagged", "header:X-Mailer=PHPMailer", "header:X-Mailer", "invoice -from:alice", "\"order 7\"", "zebra", "larger:5000",
        "message-id:host", "cc:erin", "invoice is:unread tag:urgent",
    ];

    private readonly SqliteStoreDirectory _store = new("smtpd-plans-");

    public SearchPlanTests()
    {
        using var store = new SearchTestStore(Database);
        store.Insert([.. Enumerable.Range(1, 60).Select(Message)]);
    }

    private string Database => _store.Database;

    public void Dispose() => _store.Dispose();

    [Fact]
    public void TheScanPlanAndTheIndexPlanAnswerTheSamePageForEveryWindow()
    {
        using var store = MessageStore.OpenPooled(Database);
        foreach (var text in Queries)
        {
            var query = SearchQueryCompiler.Instance.Compile(text, TimeZoneInfo.Utc);
            Assert.NotNull(query.ScanWhere);
            foreach (var (start, limit) in new[] { (0, 5), (0, 50), (3, 4), (10, 10) })
            {
                var indexed = Ids(store.Page(query, start, limit, scanWindow: 0));
                foreach (var window in new[] { 1, 2, 7, 20, 59, 60, 1000 })
                {
                    Assert.True(indexed.SequenceEqual(Ids(store.Page(query, start, limit, window))), $"{text} start {start} limit {limit} window {window}");
                }
            }

            Assert.Equal(store.Page(query, 0, 1, scanWindow: 0).Messages.Select(m => (long?)m.Id).FirstOrDefault(), store.Latest(query));
        }
    }

    [Fact]
    public void CountsUpdatedFromNewMessagesEqualAFullCount()
    {
        var queries = Queries.Select(q => SearchQueryCompiler.Instance.Compile(q, TimeZoneInfo.Utc)).Append(null).ToList();
        var before = queries.Select(Counts).ToList();
        using (var search = new SearchTestStore(Database))
        {
            search.Insert([.. Enumerable.Range(61, 15).Select(Message)]);
        }

        // Counted again from the 15 new rows alone (nothing else changed), and in full on a fresh connection.
        var added = queries.Select(Counts).ToList();
        Assert.NotEqual(before, added);
        SqliteConnection.ClearAllPools();
        Assert.Equal(queries.Select(Counts), added);
    }

    [Fact]
    public void ReadFlagsTagsAndDeletesMoveTheChangeCounterSoCountsAreRedone()
    {
        var queries = Queries.Select(q => SearchQueryCompiler.Instance.Compile(q, TimeZoneInfo.Utc)).Append(null).ToList();
        _ = queries.Select(Counts).ToList();
        using (var store = MessageStore.OpenPooled(Database))
        {
            store.SetRead([2L, 3L, 4L], read: true);
            store.SetTags([5L, 6L], ["urgent"]);
            store.Delete([7L, 8L, 59L]);
        }

        using (var other = new SqliteConnection($"Data Source={Database};Pooling=False"))
        {
            other.Open();
            // Another process (smtpd delete) changes the store too.
            StoreSchema.Execute(other, "DELETE FROM messages WHERE id = 11; DELETE FROM message_tags WHERE message_id = 20");
        }

        var cached = queries.Select(Counts).ToList();
        SqliteConnection.ClearAllPools();
        Assert.Equal(queries.Select(Counts), cached);
    }

    [Fact]
    public void RewrittenMatchesFindTheSameMessagesAsTheSearchAsWritten()
    {
        // Prefixes the index holds longer terms for (inv: invoice, wal: walks), phrases ending in one, a prefix
        // matching many terms (1: 10, 12, …), non-ASCII text (kept as a prefix), and substrings of many trigrams
        // whose AND of the sparsest three must still let the exact test keep the same messages.
        string[] queries =
        [
            "inv", "wal", "\"a zeb\"", "\"zebra wal\"", "\"plain wor\"", "1", "\"invoice 1\"", "inv -wal", "zébra", "\"order 7\"",
            "from:sender1", "from:example.org", "subject:\"order 7\"", "subject:\"nvoice 1\"", "to:rcpt@example", "message-id:0@host",
            "from:example.org inv is:unread", "-from:sender1 -subject:\"or 4\"", "\"Invoice 1\" from:alice",
        ];
        using var store = MessageStore.OpenPooled(Database);
        foreach (var text in queries)
        {
            var query = SearchQueryCompiler.Instance.Compile(text, TimeZoneInfo.Utc);
            // Without its hints the search runs as written; with them, the page, its count, Ids and Latest run the
            // rewritten one.
            var written = store.Ids(query with { MatchHints = [] }).Reverse().ToArray();
            var page = store.Page(query, 0, 1000, scanWindow: 0);
            Assert.True(written.SequenceEqual(Ids(page)), text);
            Assert.Equal(written.Length, page.Matched);
            Assert.True(written.Reverse().SequenceEqual(store.Ids(query)), text);
            Assert.Equal(written.Length == 0 ? null : written[0], store.Latest(query));
        }
    }

    [Theory]
    [InlineData("lorem ipsum", "lorem ", "ipsum")]
    [InlineData("Lorem IPSUM.", "Lorem ", "ipsum")]
    [InlineData("a-b_c", "a-b_", "c")]
    [InlineData("x42", "", "x42")]
    [InlineData("...", null, null)]
    [InlineData("zébra wal", null, null)]
    public void AnAsciiPhraseSplitsOffItsLastTokenAsUnicode61Would(string text, string? head, string? token)
    {
        var phrase = PrefixPhrase.Of(text);
        Assert.Equal(head, phrase.Head);
        Assert.Equal(token, phrase.LastToken);
    }

    private static long[] Ids(MessagePage page) => [.. page.Messages.Select(m => m.Id)];

    private (long, long, long, long) Counts(CompiledQuery? query)
    {
        using var store = MessageStore.OpenPooled(Database);
        var page = store.Page(query, 0, 5);
        return (page.Total, page.Unread, page.Matched, page.MatchedUnread);
    }

    /// <summary>A mix in which each query matches some messages, in runs and gaps, so windows cut through matches.</summary>
    private static TestMessage Message(int id) => new(id)
    {
        ReceivedAt = new DateTimeOffset(2024, 1, 1, 0, 0, 0, TimeSpan.Zero).AddHours(id),
        MailFrom = id % 3 == 0 ? "alice@example.com" : $"sender{id}@example.org",
        HeaderFrom = id % 3 == 0 ? "Alice <alice@example.com>" : $"Sender {id} <sender{id}@example.org>",
        HeaderTo = id % 4 == 0 ? "Bob <bob@example.com>" : "rcpt@example.com",
        HeaderCc = id % 9 == 0 ? "Erin <erin@example.net>" : null,
        Recipients = id % 5 == 0 ? ["rcpt@example.com", "grace@example.com"] : ["rcpt@example.com"],
        Subject = id % 2 == 0 ? $"Invoice {id} for order {id % 10}" : $"Hello {id}",
        Body = id % 17 == 0 ? "a zebra walks" : "plain words",
        Size = 1000 * id,
        IsRead = id % 4 == 1,
        Tags = id % 6 == 0 ? ["Urgent"] : [],
        MessageId = id % 7 == 0 ? $"{id}@host" : null,
        Headers = [("X-Mailer", id % 8 == 0 ? "PHPMailer 6" : "other")],
    };
}
