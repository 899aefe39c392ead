using Microsoft.Extensions.Hosting;
using Npgsql;

namespace Smtpd.Samples.PostgresDelivery;

/// <summary>Creates the <c>smtpd_messages</c> table when the host starts, unless it exists.</summary>
/// <remarks>
/// Every instance of a fleet runs this at start. Two concurrent <c>CREATE TABLE IF NOT EXISTS</c> of the same table
/// can both pass the existence check and one then fails on the catalog's unique index, so the statement runs under
/// a transaction-scoped advisory lock that serialises the instances.
/// </remarks>
public sealed class MailSchema(NpgsqlDataSource dataSource) : IHostedService
{
    /// <summary>The largest value a <c>bytea</c> column holds: 1 GB.</summary>
    public const long MaxContentSize = 1L << 30;

    /// <summary>The table: one row per accepted message, keyed for deduplication by <c>delivery_key</c>.</summary>
    public const string CreateTable = """
        CREATE TABLE IF NOT EXISTS smtpd_messages (
            id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            -- SHA-256 of the envelope and the content: a client that retries after a lost 250 repeats the row's key.
            delivery_key      bytea       NOT NULL UNIQUE,
            received_at       timestamptz NOT NULL,
            stored_at         timestamptz NOT NULL DEFAULT now(),
            sender            text        NOT NULL,  -- '' for the null reverse-path <> (bounces)
            recipients        text[]      NOT NULL,  -- every RCPT, Bcc included
            client_address    inet        NOT NULL,  -- the real client, behind a PROXY-protocol balancer too
            client_port       integer     NOT NULL,
            helo              text,
            session_id        text        NOT NULL,
            instance          text        NOT NULL,  -- which Smtpd instance took the message
            message_id        text,
            size              bigint      NOT NULL,
            sha256            bytea       NOT NULL,  -- of raw
            raw               bytea       NOT NULL,  -- the exact content, after dot-unstuffing
            duplicates        integer     NOT NULL DEFAULT 0,
            last_duplicate_at timestamptz
        )
        """;

    /// <summary>An arbitrary constant that names this schema's advisory lock.</summary>
    private const long SchemaLock = 0x536D7470_64534348; // "SmtpdSCH"

    /// <inheritdoc/>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await using (var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = SchemaLock });
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await using (var command = new NpgsqlCommand(CreateTable, connection, transaction))
        {
            await command.ExecuteNonQueryAsync(cancellationToken);
        }

        await transaction.CommitAsync(cancellationToken);
    }

    /// <inheritdoc/>
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
