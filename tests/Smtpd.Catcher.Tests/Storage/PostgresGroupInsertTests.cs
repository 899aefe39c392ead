using Npgsql;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The PostgreSQL writer inserts a group's messages, chunks, header rows and mailbox rows with one statement each
/// (column arrays): every row must land with its own message, whatever the counts of each message.
/// </summary>
public sealed class PostgresGroupInsertTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task EachMessageOfAGroupKeepsItsOwnRecipientsHeadersMailboxesAndContent()
    {
        var database = await StoreBackend.CreateDatabaseAsync();
        var store = PostgresCatcherStore.Open(database, new StoreRetention(0, null, 0), TimeProvider.System, null);
        try
        {
            // Sent at once, so the writer takes several into one group; fields with NUL, no headers, no mailbox.
            var stores = Enumerable.Range(0, 12).Select(i =>
            {
                var content = System.Text.Encoding.UTF8.GetBytes($"Subject: m{i}\r\n\r\nbody {i}\r\n");
                var record = TestRecords.Minimal($"m{i}", content) with
                {
                    Recipients = [.. Enumerable.Range(0, i % 3).Select(r => $"r{r}.{i}@example.com")],
                    SearchHeaders = [.. Enumerable.Range(0, i % 4).Select(h => new KeyValuePair<string, string>($"x-h{h}", $"v{h}.{i}"))],
                    Mailboxes = i % 2 == 0 ? [$"box{i}", "shared"] : [],
                    HeaderFrom = i == 5 ? "nul\0inside" : null,
                    ListenerPort = i % 2 == 0 ? 2525 : null,
                };
                return TestRecords.StoreAsync(store, record, content);
            }).ToArray();
            var ids = await Task.WhenAll(stores);

            await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(database) { Pooling = false }.ConnectionString);
            await connection.OpenAsync(Ct);
            for (var i = 0; i < ids.Length; i++)
            {
                var id = ids[i];
                Assert.Equal(
                    $"m{i}|{string.Join(",", Enumerable.Range(0, i % 3).Select(r => $"r{r}.{i}@example.com"))}|{(i == 5 ? "nul\uFFFDinside" : "-")}|{(i % 2 == 0 ? "2525" : "-")}",
                    await TextAsync(connection, $"SELECT subject || '|' || array_to_string(rcpt_to, ',') || '|' || coalesce(header_from, '-') || '|' || coalesce(listener_port::text, '-') FROM messages WHERE id = {id}"));
                Assert.Equal(
                    string.Join(";", Enumerable.Range(0, i % 4).Select(h => $"{h}:x-h{h}=v{h}.{i}")),
                    await TextAsync(connection, $"SELECT coalesce(string_agg(seq || ':' || name || '=' || value, ';' ORDER BY seq), '') FROM message_headers WHERE message_id = {id}"));
                Assert.Equal(
                    i % 2 == 0 ? $"box{i},shared" : string.Empty,
                    await TextAsync(connection, $"SELECT coalesce(string_agg(name, ',' ORDER BY name), '') FROM message_mailboxes WHERE message_id = {id}"));
                Assert.Equal(
                    $"Subject: m{i}\r\n\r\nbody {i}\r\n",
                    await TextAsync(connection, $"SELECT convert_from(string_agg(data, ''::bytea ORDER BY seq), 'UTF8') FROM message_chunks WHERE message_id = {id}"));
            }
        }
        finally
        {
            await store.CloseAsync();
        }
    }

    private static async Task<string> TextAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (string)(await command.ExecuteScalarAsync(Ct))!;
    }
}
