using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The store's behaviour, one test body per behaviour, run against SQLite and PostgreSQL alike (issue 16: the same
/// guarantees on both). Each case opens a new, empty store of its backend.
/// </summary>
public sealed class StoreBehaviourTests
{
    public static TheoryData<string> Backends => StoreBackend.All;

    private static MessageRecord Record(string subject = "Hello", byte[]? content = null, DateTimeOffset? receivedAt = null) => new()
    {
        ReceivedAt = receivedAt ?? DateTimeOffset.UtcNow,
        MailFrom = "alice@example.com",
        Recipients = ["bob@example.com", "hidden@example.net"],
        Client = "127.0.0.1:4242",
        Helo = "client.test",
        Tls = true,
        TlsProtocol = "Tls13",
        TlsCipher = "TLS_AES_256_GCM_SHA384",
        User = "alice",
        Size = content?.Length ?? 5,
        Sha256 = Convert.ToHexStringLower(SHA256.HashData(content ?? "Hello"u8.ToArray())),
        Subject = subject,
        HeaderFrom = "Alice <alice@example.com>",
        HeaderTo = "Bob <bob@example.com>",
        HeaderCc = "Carol <carol@example.org>",
        HeaderBcc = "Hidden <hidden@example.net>",
        HeaderReplyTo = "replies@example.com",
        HeaderDate = "Mon, 1 Apr 2024 12:00:00 +0000",
        MessageId = "abc.123@mail.example.com",
        HasAttachments = true,
        Attachments = 2,
        InlineParts = 1,
        Snippet = "The first words",
        DsnReturn = "HDRS",
        DsnEnvelopeId = "env-1",
        RecipientDsn = [new RecipientDsnRecord("bob@example.com", "SUCCESS,FAILURE", "rfc822;bob@example.com")],
        SearchBody = "Your one-time code is 123456. Großartige Neuigkeiten im café",
        SearchAddresses = "alice@example.com bob@example.com hidden@example.net",
        SearchHeaders = [new("x-mailer", "PHPMailer 6.0"), new("subject", subject)],
    };

    /// <summary>A mailbox's counts as <c>GET /api/v1/mailboxes</c> reads them: its scope's page counts.</summary>
    private static (long Total, long Unread) MailboxCounts(ICatcherStore store, IMessageStore reader, string name) =>
        reader.Page(store.Compiler.Mailbox(name), 0, 0) is var page ? (page.Matched, page.MatchedUnread) : default;

    private static Task<long> Store(ICatcherStore store, MessageRecord record, byte[]? content = null)
    {
        content ??= "Hello"u8.ToArray();
        return store.StoreAsync(record with { Size = content.Length }, content, () => new MemoryStream(content));
    }

    private static byte[] ReadContent(IMessageStore reader, long id)
    {
        var record = reader.Find(id)!;
        using var stream = reader.OpenContent(record);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task StoredMessageReadsBackWithEveryEnvelopeSessionAndDsnField(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var record = Record();
        var id = await Store(test.Store, record);

        using var reader = test.Store.Open();
        var back = reader.FindWithTags(id)!;
        Assert.Equal(id, back.Id);
        Assert.Equal(record.MailFrom, back.MailFrom);
        Assert.Equal(record.Recipients, back.Recipients);
        Assert.Equal(record.Client, back.Client);
        Assert.Equal(record.Helo, back.Helo);
        Assert.True(back.Tls);
        Assert.Equal(record.TlsProtocol, back.TlsProtocol);
        Assert.Equal(record.TlsCipher, back.TlsCipher);
        Assert.Equal(record.User, back.User);
        Assert.Equal(record.Sha256, back.Sha256);
        Assert.Equal(record.HeaderBcc, back.HeaderBcc);
        Assert.Equal(record.HeaderCc, back.HeaderCc);
        Assert.Equal(record.HeaderReplyTo, back.HeaderReplyTo);
        Assert.Equal(record.HeaderDate, back.HeaderDate);
        Assert.Equal(record.MessageId, back.MessageId);
        Assert.Equal((2, 1, true), (back.Attachments, back.InlineParts, back.HasAttachments));
        Assert.Equal(record.Snippet, back.Snippet);
        Assert.Equal("HDRS", back.DsnReturn);
        Assert.Equal("env-1", back.DsnEnvelopeId);
        Assert.Equal(record.RecipientDsn, back.RecipientDsn);
        Assert.False(back.IsRead);
        // PostgreSQL keeps microseconds, SQLite 100-nanosecond ticks: the same instant to the microsecond.
        Assert.True((back.ReceivedAt - record.ReceivedAt).Duration() < TimeSpan.FromMicroseconds(1));
        Assert.Equal("Hello"u8.ToArray(), ReadContent(reader, id));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ConcurrentMessagesAreEachCommittedOnceWithIncreasingIds(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var ids = await Task.WhenAll(Enumerable.Range(0, 200).Select(i => Task.Run(() => Store(test.Store, Record($"message {i}"), Encoding.ASCII.GetBytes($"body {i}")))));

        Assert.Equal(200, ids.Distinct().Count());
        using var reader = test.Store.Open();
        Assert.Equal(ids.Order(), reader.AllIds());
        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            Assert.Equal(Encoding.ASCII.GetBytes($"body {i}"), ReadContent(reader, id));
        }
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task LargeContentIsStreamedInChunksBothWaysAndReadsBackExactly(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        // Two whole chunks and a part: the writer reads it a chunk at a time, the reader loads one chunk at a time.
        var content = new byte[(2 * StoreSchema.ChunkSize) + 1234];
        new Random(16).NextBytes(content);
        var id = await test.Store.StoreAsync(Record(content: content), null, () => new MemoryStream(content));

        using var reader = test.Store.Open();
        Assert.Equal(content, ReadContent(reader, id));
        using var stream = reader.OpenContent(reader.Find(id)!);
        stream.Seek(StoreSchema.ChunkSize - 2, SeekOrigin.Begin);
        var buffer = new byte[4];
        stream.ReadExactly(buffer);
        Assert.Equal(content.AsSpan(StoreSchema.ChunkSize - 2, 4).ToArray(), buffer);
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task ContentThatCannotBeReadFailsOnlyItsOwnMessage(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var good = Store(test.Store, Record("good"));
        var bad = test.Store.StoreAsync(Record("bad") with { Size = 10 }, null, () => throw new IOException("the client went away"));

        await Assert.ThrowsAsync<IOException>(() => bad);
        var id = await good;
        using var reader = test.Store.Open();
        Assert.Equal([id], reader.AllIds());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task TagsReadStateAndDeletionBehaveAlike(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var one = await Store(test.Store, Record("one"));
        var two = await Store(test.Store, Record("two"));
        using var reader = test.Store.Open();

        Assert.Equal([one, two], reader.SetTags([one, two, 999], ["Urgent", "b"]));
        Assert.Equal(["Urgent", "b"], reader.FindWithTags(one)!.Tags);
        Assert.Equal([one, two], reader.RenameTag("b", "c").Order());
        Assert.Equal(["Urgent", "c"], reader.AllTags());
        Assert.Equal(new Dictionary<string, long> { ["Urgent"] = 2, ["c"] = 2 }, reader.TagCounts());
        Assert.Equal([two], reader.SetTags([two], []));
        Assert.Equal([one], reader.DeleteTag("c"));

        Assert.Equal([one], reader.SetRead([one], true));
        Assert.Empty(reader.SetRead([one], true));
        Assert.True(reader.FindWithTags(one)!.IsRead);
        Assert.Equal([two], reader.SetRead((CompiledQuery?)null, true));

        Assert.Equal([one], reader.Delete([one, 999]));
        Assert.Null(reader.Find(one));
        Assert.Equal(1, reader.Clear());
        Assert.Empty(reader.AllIds());
        Assert.Empty(reader.AllTags());
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task AnEmptySearchPageAskedAgainSeesEveryChangeSinceItsCounts(string backend)
    {
        // A client polling a search that matches nothing yet (PostgreSQL answers such a page from its remembered counts
        // and the rows added since, in one round trip): new mail, a match, a read flag and a delete must all show.
        await using var test = await StoreBackend.OpenAsync(backend);
        for (var i = 0; i < 3; i++)
        {
            await Store(test.Store, Record($"plain {i}"));
        }

        using var reader = test.Store.Open();
        var query = test.Store.Compiler.Compile("subject:zebra", TimeZoneInfo.Utc);
        (long, long, long, long, int) Ask(int start = 0, int limit = 10) =>
            reader.Page(query, start, limit) is var page ? (page.Total, page.Unread, page.Matched, page.MatchedUnread, page.Messages.Count) : default;

        Assert.Equal((3L, 3L, 0L, 0L, 0), Ask());
        Assert.Equal((3L, 3L, 0L, 0L, 0), Ask());
        await Store(test.Store, Record("plain 3"));
        Assert.Equal((4L, 4L, 0L, 0L, 0), Ask());
        var zebra = await Store(test.Store, Record("a zebra"));
        Assert.Equal((5L, 5L, 1L, 1L, 1), Ask());
        Assert.Equal((5L, 5L, 1L, 1L, 0), Ask(start: 1));
        // The counts alone (a page of no rows, as /api/v1/mailboxes asks), with a new match since they were taken.
        Assert.Equal((5L, 5L, 1L, 1L, 0), Ask(limit: 0));
        var zebra2 = await Store(test.Store, Record("zebra two"));
        Assert.Equal((6L, 6L, 2L, 2L, 0), Ask(limit: 0));
        reader.Delete([zebra2]);
        reader.SetRead([zebra], true);
        Assert.Equal((5L, 4L, 1L, 0L, 0), Ask(start: 1));
        Assert.Equal((5L, 4L, 1L, 0L, 0), Ask(limit: 0));
        reader.Delete([zebra]);
        Assert.Equal((4L, 4L, 0L, 0L, 0), Ask());
        Assert.Equal((4L, 4L, 0L, 0L, 0), Ask(start: 1));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task PagesCountTotalsUnreadAndMatches(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await Store(test.Store, Record(i % 2 == 0 ? $"even {i}" : $"odd {i}")));
        }

        using var reader = test.Store.Open();
        reader.SetRead([ids[0]], true);
        var query = test.Store.Compiler.Compile("subject:even", TimeZoneInfo.Utc);
        var page = reader.Page(query, 1, 1);

        Assert.Equal([ids[2]], page.Messages.Select(m => m.Id));
        Assert.Equal((5L, 4L, 3L, 2L), (page.Total, page.Unread, page.Matched, page.MatchedUnread));
        Assert.Equal(ids[4], reader.Latest(query));
        Assert.True(reader.Matches(query, ids[0]));
        Assert.False(reader.Matches(query, ids[1]));
        Assert.Equal([ids[3], ids[1]], reader.List(new MessageFilter(Subject: "ODD")).Select(m => m.Id));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task PageCountsFollowEveryKindOfChangeIncludingSearchCountsAskedBefore(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        using var reader = test.Store.Open();
        // Asked after every step, so a count a store keeps from one page to the next must follow each change.
        string?[] searches = [null, "subject:even", "tag:urgent", "is:unread subject:odd"];
        void CountsAreRight(string step)
        {
            foreach (var search in searches)
            {
                AssertPageCountsMatchTheMessages(test.Store, reader, search, step);
            }

            AssertPageCountsMatchTheMessages(reader, test.Store.Compiler.Mailbox("ops"), step + ", mailbox ops");
        }

        var ids = new List<long>();
        for (var i = 0; i < 8; i++)
        {
            ids.Add(await Store(test.Store, Record(i % 2 == 0 ? $"even {i}" : $"odd {i}") with { Mailboxes = i < 4 ? ["ops"] : [] }));
        }

        CountsAreRight("stored");
        ids.Add(await Store(test.Store, Record("even 8")));
        CountsAreRight("one more stored");
        reader.SetRead([ids[0], ids[1]], true);
        CountsAreRight("two read");
        reader.SetRead([ids[1]], false);
        CountsAreRight("one unread again");
        reader.SetTags([ids[2], ids[3]], ["Urgent"]);
        CountsAreRight("tagged");
        reader.DeleteTag("Urgent");
        CountsAreRight("tag deleted");
        reader.SetTags([ids[5]], ["urgent"]);
        reader.RenameTag("urgent", "later");
        CountsAreRight("tag renamed");
        reader.Delete([ids[8]]);
        CountsAreRight("deleted by id");
        reader.Delete(test.Store.Compiler.Compile("subject:\"odd 7\"", TimeZoneInfo.Utc));
        CountsAreRight("deleted by search");
        reader.SetRead(test.Store.Compiler.Compile("subject:even", TimeZoneInfo.Utc), true);
        CountsAreRight("a search marked read");
        reader.RemoveFromMailbox([ids[0], ids[1]], "ops");
        CountsAreRight("taken out of a mailbox");
        reader.Clear();
        CountsAreRight("cleared");
        await Store(test.Store, Record("odd after clear"));
        CountsAreRight("stored after clear");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task SearchMatchesTheSameMessagesWithTheSameSyntax(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var invoice = await Store(test.Store, Record("Invoice 2024-04 for order #123"));
        var news = await Store(test.Store, Record("Weekly newsletter") with
        {
            MailFrom = "bounce@shop.test",
            HeaderFrom = "Shop <news@shop.test>",
            HeaderBcc = null,
            Recipients = ["dave@example.org"],
            HeaderTo = "dave@example.org",
            HeaderCc = null,
            SearchBody = "plain text only",
            SearchHeaders = [new("list-unsubscribe", "<mailto:u@shop.test>")],
            Attachments = 0,
            MessageId = "other@shop.test",
        });
        using var reader = test.Store.Open();
        reader.SetTags([news], ["News"]);

        long[] Ids(string query) => [.. reader.List(new MessageFilter(Query: test.Store.Compiler.Compile(query, TimeZoneInfo.Utc))).Select(m => m.Id).Order()];
        void Matches(string query, params long[] expected) => Assert.True(expected.SequenceEqual(Ids(query)), $"{query} matched [{string.Join(", ", Ids(query))}], not [{string.Join(", ", expected)}]");

        Matches("invoice", invoice);
        Matches("\"one-time cod\"", invoice);
        Matches("cafe neuigkeiten großartige", invoice);
        Matches("-invoice", news);
        Matches("from:shop.test", news);
        Matches("bcc:hidden@", invoice);
        Matches("to:example", invoice, news);
        Matches("subject:\"2024-04\"", invoice);
        Matches("tag:news", news);
        Matches("is:tagged", news);
        Matches("has:attachment", invoice);
        Matches("header:List-Unsubscribe", news);
        Matches("header:x-mailer=phpmailer", invoice);
        Matches("is:unread larger:1", invoice, news);
        Matches("after:2000-01-01", invoice, news);
        Matches("before:2000-01-01");
        Matches("message-id:ABC.123", invoice);
        Matches("\"100%\"");
        Assert.Throws<MessageQueryException>(() => Ids("subject:\"unterminated"));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task RetentionByCountKeepsTheNewestAndReportsThePrune(string backend)
    {
        var pruned = new List<StorePruned>();
        await using var test = await StoreBackend.OpenAsync(backend, new StoreRetention(3, null, 0), pruned: p => { lock (pruned) { pruned.Add(p); } });
        var ids = new List<long>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await Store(test.Store, Record($"message {i}")));
        }

        using var reader = test.Store.Open();
        Assert.Equal(ids.Skip(2), reader.AllIds());
        AssertPageCountsMatchTheMessages(test.Store, reader, null, "pruned by count");
        await WaitUntil(() => { lock (pruned) { return pruned.Sum(p => p.Messages) == 2; } });
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task RetentionByAgePrunesWhatTheClockMakesTooOld(string backend)
    {
        var clock = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var test = await StoreBackend.OpenAsync(backend, new StoreRetention(0, TimeSpan.FromHours(1), 0), clock);
        var old = await Store(test.Store, Record("old", receivedAt: clock.GetUtcNow()));
        clock.Advance(TimeSpan.FromMinutes(90));
        var fresh = await Store(test.Store, Record("fresh", receivedAt: clock.GetUtcNow()));

        using var reader = test.Store.Open();
        Assert.Equal([fresh], reader.AllIds());
        Assert.Null(reader.Find(old));
        AssertPageCountsMatchTheMessages(test.Store, reader, null, "pruned by age");
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task MessageRoutedToTwoMailboxesIsStoredOnceAndCountedInEach(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var both = await Store(test.Store, Record("invoice 1") with { Mailboxes = ["ops", "sales"], ListenerPort = 2525 });
        var ops = await Store(test.Store, Record("alert") with { Mailboxes = ["ops"] });
        var none = await Store(test.Store, Record("invoice 2"));

        using var reader = test.Store.Open();
        Assert.Equal([both, ops, none], reader.AllIds());
        reader.SetRead([both], read: true);
        Assert.Equal((2L, 1L), MailboxCounts(test.Store, reader, "ops"));
        Assert.Equal((1L, 0L), MailboxCounts(test.Store, reader, "sales"));
        Assert.Equal((0L, 0L), MailboxCounts(test.Store, reader, "nobody"));

        var opsScope = test.Store.Compiler.Mailbox("ops");
        Assert.Equal([both, ops], reader.Ids(opsScope));
        Assert.Equal([both], reader.Ids(test.Store.Compiler.Mailbox("sales")));
        Assert.Empty(reader.Ids(test.Store.Compiler.Mailbox("nobody")));
        // The scope ANDed with a search, as ?mailbox=ops&query=… is: the search's parameters and the scope's coexist.
        var invoices = Smtpd.Catcher.Mailboxes.MailboxScope.And(opsScope, test.Store.Compiler.Compile("subject:invoice", TimeZoneInfo.Utc))!;
        Assert.Equal([both], reader.Ids(invoices));
        var page = reader.Page(opsScope, 0, 10);
        Assert.Equal([ops, both], page.Messages.Select(m => m.Id));
        Assert.Equal((3L, 2L, 1L), (page.Total, page.Matched, page.MatchedUnread));
        Assert.True(reader.Matches(opsScope, ops));
        Assert.False(reader.Matches(opsScope, none));
        Assert.Equal(ops, reader.Latest(opsScope));
        Assert.Equal(both, reader.Latest(invoices));
        Assert.Equal(["ops", "sales"], reader.MailboxesOf(both));
        Assert.Empty(reader.MailboxesOf(none));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task RemovingFromOneMailboxDeletesOnlyMessagesNoOtherMailboxHolds(string backend)
    {
        await using var test = await StoreBackend.OpenAsync(backend);
        var both = await Store(test.Store, Record("shared") with { Mailboxes = ["ops", "sales"] });
        var ops = await Store(test.Store, Record("ops only") with { Mailboxes = ["ops"] });
        var none = await Store(test.Store, Record("in no mailbox"));

        using var reader = test.Store.Open();
        var (removed, deleted) = reader.RemoveFromMailbox([ops, none, both, ops], "ops");

        Assert.Equal([ops, both], removed);
        Assert.Equal([ops], deleted);
        Assert.Null(reader.Find(ops));
        Assert.NotNull(reader.Find(both));
        Assert.NotNull(reader.Find(none));
        Assert.False(reader.Matches(test.Store.Compiler.Mailbox("ops"), both));
        Assert.True(reader.Matches(test.Store.Compiler.Mailbox("sales"), both));
        Assert.Equal(((0L, 0L), (1L, 1L)), (MailboxCounts(test.Store, reader, "ops"), MailboxCounts(test.Store, reader, "sales")));
        Assert.Equal((Array.Empty<long>(), Array.Empty<long>()), (reader.RemoveFromMailbox([both], "ops").Removed.ToArray(), reader.RemoveFromMailbox([none], "ops").Deleted.ToArray()));
        // Deleting a message outright takes it out of every mailbox (the membership rows go with it).
        Assert.Equal([both], reader.Delete([both]));
        Assert.Equal(((0L, 0L), (0L, 0L)), (MailboxCounts(test.Store, reader, "ops"), MailboxCounts(test.Store, reader, "sales")));
    }

    [Theory]
    [MemberData(nameof(Backends))]
    public async Task MailboxKeepTakesOnlyThatMailboxsOlderMessagesAndSparesThoseAnotherMailboxHolds(string backend)
    {
        var pruned = new List<StorePruned>();
        var retention = new StoreRetention(0, null, 0) { MailboxKeep = new Dictionary<string, int>(StringComparer.Ordinal) { ["ops"] = 2 } };
        await using var test = await StoreBackend.OpenAsync(backend, retention, pruned: p => { lock (pruned) { pruned.Add(p); } });
        var shared = await Store(test.Store, Record("ops 1") with { Mailboxes = ["ops", "sales"] });
        var unrouted = await Store(test.Store, Record("no mailbox"));
        var second = await Store(test.Store, Record("ops 2") with { Mailboxes = ["ops"] });
        var third = await Store(test.Store, Record("ops 3") with { Mailboxes = ["ops"] });
        var fourth = await Store(test.Store, Record("ops 4") with { Mailboxes = ["ops"] });

        using var reader = test.Store.Open();
        // The prune commits with the group that went over the limit, before that group's sessions hear their 250.
        Assert.Equal([third, fourth], reader.Ids(test.Store.Compiler.Mailbox("ops")));
        Assert.Equal([shared, unrouted, third, fourth], reader.AllIds());
        Assert.Equal([shared], reader.Ids(test.Store.Compiler.Mailbox("sales")));
        Assert.Null(reader.Find(second));
        await WaitUntil(() => { lock (pruned) { return pruned.Sum(p => p.Messages) == 1; } });
    }

    /// <summary>
    /// A page's four counts equal what the messages themselves say, read one by one: so whatever a store keeps or
    /// caches, the page answers as a full count would.
    /// </summary>
    internal static void AssertPageCountsMatchTheMessages(ICatcherStore store, IMessageStore reader, string? search, string step) =>
        AssertPageCountsMatchTheMessages(reader, search is null ? null : store.Compiler.Compile(search, TimeZoneInfo.Utc), step + ", " + (search ?? "no search"));

    /// <summary>The same for a compiled query.</summary>
    internal static void AssertPageCountsMatchTheMessages(IMessageStore reader, CompiledQuery? query, string step)
    {
        var all = reader.AllIds();
        var unread = all.Count(id => !reader.Find(id)!.IsRead);
        var matched = query is null ? all : reader.Ids(query);
        var matchedUnread = matched.Count(id => !reader.Find(id)!.IsRead);
        var page = reader.Page(query, 0, 2);
        Assert.True((all.Count, unread, matched.Count, matchedUnread) == (page.Total, page.Unread, page.Matched, page.MatchedUnread),
            $"{step}: the page counts {(page.Total, page.Unread, page.Matched, page.MatchedUnread)}, the messages are {(all.Count, unread, matched.Count, matchedUnread)}");
        Assert.Equal(matched.Reverse().Take(2), page.Messages.Select(m => m.Id));
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }
}
