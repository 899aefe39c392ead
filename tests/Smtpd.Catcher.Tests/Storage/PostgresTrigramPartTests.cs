using System.Text;
using Npgsql;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// A PostgreSQL substring search asks its trigram index for the part of the value without the common trigrams
/// (PostgresMatchRefiner), and the exact ILIKE decides: the same messages must match as with the whole value.
/// </summary>
public sealed class PostgresTrigramPartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("sender42@", new[] { "er4", "r42" }, "er42@")]
    [InlineData("x-sender42-y", new[] { "r42" }, "r42-")]
    [InlineData("order 12345", new[] { "123", "345" }, " 12345")]
    [InlineData("sender42@", new string[0], "sender42@")]
    [InlineData("Sender42", new[] { "sen" }, "Sen")]
    public void TheIndexPartKeepsTheRareTrigramsAndTheWordEndsBesideThem(string value, string[] rare, string part)
    {
        var hint = new PostgresTrigramHint("$p0", value, ["messages.header_from"], PostgresTrigramHint.WindowsOf(value));
        Assert.Equal(part, hint.Part(rare.ToHashSet(StringComparer.Ordinal)));
    }

    [Fact]
    public void WindowsAreRunsOfThreeAsciiLettersOrDigitsInLowerCase()
    {
        Assert.Equal([(0, "sen"), (1, "end"), (5, "r42")], PostgresTrigramHint.WindowsOf("SeNd.R42@"));
        Assert.Empty(PostgresTrigramHint.WindowsOf("a.b-c_d"));
        Assert.Empty(PostgresTrigramHint.WindowsOf("zé"));
    }

    [Fact]
    public async Task SearchesMatchTheSameMessagesWithTheIndexPartAsWithTheWholeValue()
    {
        await using var test = await StoreBackend.OpenAsync("postgres");
        for (var i = 1; i <= 61; i++)
        {
            await StoreAsync(test.Store, i);
        }

        // Values of many trigrams, common ones (sen, end, nde, der in every From) beside rare ones, negated, combined,
        // and values with LIKE's own characters.
        string[] queries =
        [
            "from:sender42@", "from:sender4", "from:SENDER42@EXAMPLE", "from:example.org", "-from:sender42@", "subject:\"order 7\"",
            "subject:\"invoice 42 for\"", "to:rcpt@example", "bcc:grace@example", "message-id:14@host", "from:nobody@nowhere.example",
            "subject:\"Hello 100%_offers\"", "from:sender1 subject:invoice", "-subject:\"for order\" from:sender",
        ];
        using var reader = test.Store.Open();
        foreach (var text in queries)
        {
            var query = test.Store.Compiler.Compile(text, TimeZoneInfo.Utc);
            // Without its hints the search keeps the whole value as its index part: the plain ILIKE.
            var whole = query with { MatchHints = [] };
            var expected = reader.Ids(whole);
            Assert.Equal(expected, reader.Ids(query));
            var page = reader.Page(query, 0, 100);
            Assert.Equal(expected.Reverse(), page.Messages.Select(m => m.Id));
            Assert.Equal(expected.Count, page.Matched);
        }

        // LIKE's own characters are literal in the value and in its part ("Hello" is common, so the part is " 100%_offers"):
        // "Hello 100 big offers" must not match.
        Assert.Equal(4, reader.Ids(test.Store.Compiler.Compile("subject:\"Hello 100%_offers\"", TimeZoneInfo.Utc)).Count);

        // And the part chosen is not the whole value: the test runs the rewrite, not the plain search twice. Of the From
        // addresses (sender1 … sender60, blocker42) 60 of 61 hold sen, end, nde and der; er4 is in 12, r42 in two.
        var search = test.Store.Compiler.Compile("from:sender42@", TimeZoneInfo.Utc);
        var hint = Assert.IsType<PostgresTrigramHint>(Assert.Single(search.MatchHints));
        await using var connection = new NpgsqlConnection(test.ConnectionString);
        await connection.OpenAsync(Ct);
        var refined = PostgresMatchRefiner.Refine(connection, "trigram-part-test-" + Guid.NewGuid().ToString("N"), search, newest: null);
        Assert.Equal("%er42@%", refined.Parameters[hint.Parameter]);
        Assert.Equal("%sender42@%", search.Parameters[hint.Parameter]);
    }

    [Fact]
    public async Task EveryGinIndexOfTheStoreKeepsAShortPendingList()
    {
        // Migration 5: a search reads a GIN index's whole pending list, so it must stay short (256 kB, not 4 MB).
        await using var test = await StoreBackend.OpenAsync("postgres");
        await using var connection = new NpgsqlConnection(test.ConnectionString);
        await connection.OpenAsync(Ct);
        await using var command = new NpgsqlCommand("""
            SELECT c.relname, coalesce(array_to_string(c.reloptions, ','), '') FROM pg_index AS i
            JOIN pg_class AS c ON c.oid = i.indexrelid JOIN pg_am AS a ON a.oid = c.relam JOIN pg_class AS t ON t.oid = i.indrelid
            WHERE a.amname = 'gin' AND t.relname IN ('messages', 'message_headers') ORDER BY 1
            """, connection);
        var indexes = new List<(string Name, string Options)>();
        await using (var reader = await command.ExecuteReaderAsync(Ct))
        {
            while (await reader.ReadAsync(Ct))
            {
                indexes.Add((reader.GetString(0), reader.GetString(1)));
            }
        }

        // The search vector's index, and the six trigram indexes where pg_trgm is available (it is on the test server).
        Assert.Equal(7, indexes.Count);
        Assert.All(indexes, index => Assert.Equal((index.Name, "gin_pending_list_limit=256"), index));
    }

    /// <summary>Message <paramref name="i"/>; the last (61) is from blocker42@, which holds the part of sender42@ the index is asked for, and must not match it.</summary>
    private static Task<long> StoreAsync(ICatcherStore store, int i)
    {
        var sender = i == 61 ? "blocker42" : $"sender{i}";
        var content = Encoding.ASCII.GetBytes($"Subject: message {i}\r\n\r\nbody {i}\r\n");
        var subject = i % 2 == 0 ? $"Invoice {i} for order {i % 10}" : i % 7 == 0 ? $"Hello 100%_offers {i}" : i % 11 == 0 ? $"Hello 100 big offers {i}" : $"Hello {i}";
        var record = TestRecords.Minimal(subject, content) with
        {
            MailFrom = $"{sender}@example.org",
            Recipients = i % 5 == 0 ? ["rcpt@example.com", "grace@example.com"] : ["rcpt@example.com"],
            HeaderFrom = $"Sender {i} <{sender}@example.org>",
            HeaderTo = "rcpt@example.com",
            MessageId = $"{i}@host",
        };
        return TestRecords.StoreAsync(store, record, content);
    }
}
