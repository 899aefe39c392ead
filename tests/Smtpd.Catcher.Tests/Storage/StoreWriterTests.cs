using System.Text;
using Microsoft.Data.Sqlite;
using Smtpd.Catcher.Storage;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The ingest path of the store: group commit under concurrency (the writer gathers the sessions of its last group),
/// and the body text the index gets, read a pooled buffer at a time.
/// </summary>
public sealed class StoreWriterTests : IDisposable
{
    private readonly SqliteStoreDirectory _store = new("smtpd-writer-");

    private string Database => _store.Database;

    public void Dispose() => _store.Dispose();

    [Fact]
    public async Task ConcurrentMessagesAreAllCommittedWithDistinctIdsBeforeTheirTasksComplete()
    {
        var ids = new List<long>();
        using (var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System))
        {
            // Waves of concurrent messages, so that the writer sees groups of at least StoreWriter.GatherMinimum and
            // gathers the next one; a wave smaller than the last group exercises the wait that ends by its deadline.
            foreach (var wave in new[] { 1, 8, 8, 5, 16, 2, 16 })
            {
                var stored = Enumerable.Range(0, wave).Select(i => Store(writer, $"wave {wave} message {i}")).ToArray();
                foreach (var id in await Task.WhenAll(stored))
                {
                    // Completed only after its COMMIT: another connection already sees the row.
                    Assert.Equal(1L, Scalar($"SELECT count(*) FROM messages WHERE id = {id}"));
                    ids.Add(id);
                }
            }

            await writer.CloseAsync();
        }

        Assert.Equal(56, ids.Count);
        Assert.Equal(56, ids.Distinct().Count());
        Assert.Equal(56L, Scalar("SELECT count(*) FROM messages_fts"));
        Assert.Equal(56L, Scalar("SELECT count(*) FROM message_chunks"));
    }

    [Fact]
    public async Task ALoneMessageAfterAGroupIsCommittedWithoutWaitingForTheGroupToComeBack()
    {
        using var writer = new StoreWriter(Database, new StoreRetention(0, null, 0), TimeProvider.System);
        await Task.WhenAll(Enumerable.Range(0, 16).Select(i => Store(writer, $"crowd {i}")));
        // The last group had 16 messages; one alone now is gathered for at most StoreWriter.GatherMilliseconds,
        // then committed by itself.
        var id = await Store(writer, "alone").WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);
        Assert.Equal("alone", Scalar($"SELECT subject FROM messages WHERE id = {id}"));
        await writer.CloseAsync();
    }

    [Theory]
    [InlineData(10)]
    [InlineData(16 * 1024)]
    [InlineData(40_000)]
    public void ABodyIsIndexedWholeWhetherItFitsOneReadOrNot(int length)
    {
        var body = new string('a', length - 6) + " tail.";
        var analyzed = MessageAnalyzer.AnalyzeLocal(Encoding.ASCII.GetBytes($"Subject: s\r\n\r\n{body}"), Envelope());
        Assert.Equal(body, analyzed.Record.SearchBody);
    }

    [Fact]
    public void ABodyPastTheIndexCapIsCutAtTheCap()
    {
        var body = new string('a', MessageAnalyzer.SearchBodyLimit + 100);
        var analyzed = MessageAnalyzer.AnalyzeLocal(Encoding.ASCII.GetBytes($"Subject: s\r\n\r\n{body}"), Envelope());
        Assert.Equal(MessageAnalyzer.SearchBodyLimit, analyzed.Record.SearchBody!.Length);
    }

    private static MessageRecord Envelope() => new()
    {
        ReceivedAt = DateTimeOffset.UtcNow,
        MailFrom = "a@example.com",
        Recipients = ["b@example.com"],
        Client = "127.0.0.1:1",
        Size = 0,
        Sha256 = string.Empty,
    };

    private static Task<long> Store(StoreWriter writer, string subject)
    {
        var content = Encoding.ASCII.GetBytes($"From: a@example.com\r\nTo: b@example.com\r\nSubject: {subject}\r\n\r\nbody\r\n");
        var analyzed = MessageAnalyzer.AnalyzeLocal(content, Envelope());
        return writer.StoreAsync(analyzed.Record, analyzed.Content, () => new MemoryStream(content, writable: false));
    }

    private object? Scalar(string sql)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Database, Pooling = false }.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    }
}
