using System.Collections.Concurrent;
using Npgsql;
using Smtpd.Catcher.Storage;
using Smtpd.Catcher.Storage.Postgres;

[assembly: AssemblyFixture(typeof(Smtpd.Catcher.Tests.Storage.PostgresDatabases))]

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>
/// The two store backends the behaviour tests run against, named by a Theory's parameter: <c>sqlite</c> (a file in a
/// temporary directory) and <c>postgres</c> (a database of its own on the server <c>SMTPD_TEST_POSTGRES</c> names;
/// <c>.ci/setup-postgres</c> starts one and prints the string).
/// </summary>
/// <remarks>
/// Without the variable the PostgreSQL cases skip, except in CI (<c>CI=true</c>), where they must run and a missing
/// or unreachable server fails them.
/// </remarks>
internal static class StoreBackend
{
    public const string Variable = "SMTPD_TEST_POSTGRES";

    private static readonly ConcurrentBag<string> Created = [];

    /// <summary>The databases this run created (names of our own making: no quoting needed).</summary>
    public static IEnumerable<string> CreatedDatabases => Created;

    /// <summary>Both backends, for <c>[MemberData]</c>.</summary>
    public static TheoryData<string> All => new("sqlite", "postgres");

    /// <summary>A new, empty PostgreSQL database's connection string; skips (or fails in CI) without a server.</summary>
    public static async Task<string> CreateDatabaseAsync()
    {
        var admin = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrWhiteSpace(admin))
        {
            var reason = $"{Variable} is not set (run: export {Variable}=\"$(bash .ci/setup-postgres)\")";
            if (Environment.GetEnvironmentVariable("CI") == "true")
            {
                Assert.Fail(reason + "; in CI the PostgreSQL store tests must run");
            }

            Assert.Skip(reason);
        }

        var name = $"smtpd_store_{Guid.NewGuid():N}";
        await ExecuteAsync(admin, $"CREATE DATABASE {name}");
        Created.Add(name);
        return new NpgsqlConnectionStringBuilder(admin) { Database = name, Pooling = true }.ConnectionString;
    }

    /// <summary>Runs one administrative statement (no pooling: DROP DATABASE must not find it attached).</summary>
    public static async Task ExecuteAsync(string connectionString, string sql)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, Timeout = 10 };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(TestContext.Current.CancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(TestContext.Current.CancellationToken);
    }

    /// <summary>
    /// Takes a database away as an outage does (new connections refused, open ones terminated), or brings it back.
    /// </summary>
    public static async Task SetAvailableAsync(string connectionString, bool available)
    {
        var admin = new NpgsqlConnectionStringBuilder(Environment.GetEnvironmentVariable(Variable)!).ConnectionString;
        var name = new NpgsqlConnectionStringBuilder(connectionString).Database;
        await ExecuteAsync(admin, $"ALTER DATABASE {name} WITH ALLOW_CONNECTIONS {(available ? "true" : "false")}");
        if (!available)
        {
            await ExecuteAsync(admin, $"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'");
        }
    }

    /// <summary>Opens a store of <paramref name="backend"/>, new and empty.</summary>
    public static async Task<TestStore> OpenAsync(string backend, StoreRetention? retention = null, TimeProvider? time = null, Action<StorePruned>? pruned = null)
    {
        retention ??= new StoreRetention(0, null, 0);
        time ??= TimeProvider.System;
        switch (backend)
        {
            case "sqlite":
                var directory = Directory.CreateTempSubdirectory("smtpd-store-").FullName;
                return new TestStore(new SqliteCatcherStore(Path.Combine(directory, "store.db"), retention, time, pruned), directory);
            case "postgres":
                var connectionString = await CreateDatabaseAsync();
                return new TestStore(PostgresCatcherStore.Open(connectionString, retention, time, pruned), null) { ConnectionString = connectionString };
            default:
                throw new ArgumentOutOfRangeException(nameof(backend), backend, "sqlite or postgres");
        }
    }
}

/// <summary>A store opened for one test; disposing closes it and removes its file or database.</summary>
internal sealed class TestStore(ICatcherStore store, string? directory) : IAsyncDisposable
{
    public ICatcherStore Store { get; } = store;

    /// <summary>The PostgreSQL database, or <see langword="null"/> for SQLite.</summary>
    public string? ConnectionString { get; init; }

    public async ValueTask DisposeAsync()
    {
        await Store.CloseAsync();
        Store.Dispose();
        if (directory is not null)
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
        }

        if (ConnectionString is not null)
        {
            NpgsqlConnection.ClearAllPools();
            var name = new NpgsqlConnectionStringBuilder(ConnectionString).Database;
            await StoreBackend.ExecuteAsync(Environment.GetEnvironmentVariable(StoreBackend.Variable)!, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
        }
    }
}

/// <summary>
/// Drops, once every test of the assembly has run, the databases <see cref="StoreBackend.CreateDatabaseAsync"/> made
/// for tests that hold no <see cref="TestStore"/> (the end-to-end tests hand theirs to a catcher), so runs do not
/// pile databases up on the server.
/// </summary>
public sealed class PostgresDatabases : IAsyncDisposable
{
    public async ValueTask DisposeAsync()
    {
        if (Environment.GetEnvironmentVariable(StoreBackend.Variable) is not { Length: > 0 } admin)
        {
            return;
        }

        NpgsqlConnection.ClearAllPools();
        var builder = new NpgsqlConnectionStringBuilder(admin) { Pooling = false, Timeout = 10 };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(CancellationToken.None);
        foreach (var name in StoreBackend.CreatedDatabases)
        {
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", connection);
            await drop.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }
}
