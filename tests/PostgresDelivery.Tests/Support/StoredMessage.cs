using System.Net;

namespace Smtpd.Samples.PostgresDelivery.Tests.Support;

/// <summary>One row of <c>smtpd_messages</c>, read back on a connection of the test's own.</summary>
public sealed record StoredMessage(
    long Id,
    string Sender,
    string[] Recipients,
    IPAddress ClientAddress,
    int ClientPort,
    string? Helo,
    string SessionId,
    string Instance,
    string? MessageId,
    long Size,
    byte[] Sha256,
    byte[] Raw,
    int Duplicates)
{
    public static async Task<IReadOnlyList<StoredMessage>> ReadAllAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT id, sender, recipients, client_address, client_port, helo, session_id, instance, message_id, size,
                   sha256, raw, duplicates
            FROM smtpd_messages ORDER BY id
            """,
            connection);
        await using var reader = await command.ExecuteReaderAsync(TestContext.Current.CancellationToken);
        var rows = new List<StoredMessage>();
        while (await reader.ReadAsync(TestContext.Current.CancellationToken))
        {
            rows.Add(new StoredMessage(
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetFieldValue<string[]>(2),
                reader.GetFieldValue<IPAddress>(3),
                reader.GetInt32(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.GetString(6),
                reader.GetString(7),
                reader.IsDBNull(8) ? null : reader.GetString(8),
                reader.GetInt64(9),
                reader.GetFieldValue<byte[]>(10),
                reader.GetFieldValue<byte[]>(11),
                reader.GetInt32(12)));
        }

        return rows;
    }
}
