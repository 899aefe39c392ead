using System.Collections.Concurrent;

namespace Smtpd.Samples.PostgresDelivery.Tests.Support;

/// <summary>
/// The PostgreSQL server the tests store into: the one <c>SMTPD_TEST_POSTGRES</c> names (.ci/setup-postgres starts
/// it in CI), else the conventional local default. Each test gets a database of its own, dropped after the run.
/// </summary>
/// <remarks>
/// Without the variable, a server that cannot be reached makes the tests skip with the reason. With it, the
/// server was started for this run, so not reaching it is a failure, never a quiet skip.
/// </remarks>
public sealed class PostgresServer : IAsyncLifetime
{
    public const string Variable = "SMTPD_TEST_POSTGRES";

    public const string DefaultConnectionString = "Host=127.0.0.1;Port=5432;Username=postgres;Password=postgres;Database=postgres";

    private readonly ConcurrentQueue<string> _databases = new();
    private NpgsqlConnectionStringBuilder _admin = new(DefaultConnectionString);
    private bool _fromVariable;
    private string? _unreachable;

    public async ValueTask InitializeAsync()
    {
        var configured = Environment.GetEnvironmentVariable(Variable);
        _fromVariable = !string.IsNullOrWhiteSpace(configured);
        // No pooling for the administrative connections: DROP DATABASE must not find one of them still attached.
        _admin = new NpgsqlConnectionStringBuilder(_fromVariable ? configured : DefaultConnectionString) { Timeout = 5, Pooling = false };
        try
        {
            await using var connection = new NpgsqlConnection(_admin.ConnectionString);
            await connection.OpenAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or ArgumentException)
        {
            _unreachable = $"PostgreSQL is not reachable at {_admin.Host}:{_admin.Port} as {_admin.Username} " +
                $"({(_fromVariable ? Variable : $"the default; set {Variable} or run .ci/setup-postgres")}): {ex.Message}";
        }
    }

    /// <summary>Creates an empty database for one test and returns its connection string; skips the test if there is no server.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        if (_unreachable is not null)
        {
            if (_fromVariable)
            {
                Assert.Fail(_unreachable);
            }

            Assert.Skip(_unreachable);
        }

        var name = $"smtpd_test_{Guid.NewGuid():N}";
        _databases.Enqueue(name);
        await ExecuteAsync($"CREATE DATABASE {name}");
        return new NpgsqlConnectionStringBuilder(_admin.ConnectionString) { Database = name, Pooling = true }.ConnectionString;
    }

    /// <summary>
    /// Takes a database away, as an outage or a failover does: new connections are refused and the open ones,
    /// those pooled by the server under test included, are terminated. <paramref name="available"/> brings it back.
    /// </summary>
    public async Task SetAvailableAsync(string connectionString, bool available)
    {
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await ExecuteAsync($"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {(available ? "true" : "false")}");
        if (!available)
        {
            await ExecuteAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_unreachable is not null)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        while (_databases.TryDequeue(out var name))
        {
            // FORCE (PostgreSQL 13+) ends sessions a failed test left behind.
            await ExecuteAsync($"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_admin.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
