using Npgsql;
using Smtpd.Catcher.Storage.Postgres;

namespace Smtpd.Catcher.Storage;

/// <summary>
/// The store commands' way in (<c>smtpd list</c>, <c>show</c>, <c>export</c>, <c>delete</c>, <c>clear</c>): the
/// <c>--db</c> value names a SQLite file or a PostgreSQL database, and the commands then use only
/// <see cref="IMessageStore"/> and the store's <see cref="IMessageQueryCompiler"/>, as the catcher does.
/// </summary>
internal static class StoreAccess
{
    /// <summary>The compiler that writes the SQL of the store <paramref name="db"/> names.</summary>
    /// <param name="db">The <c>--db</c> value: a file path, a <c>postgres://</c> URL or a connection string.</param>
    /// <returns>The compiler.</returns>
    public static IMessageQueryCompiler CompilerFor(string db) =>
        PostgresConnection.IsPostgres(db) ? PostgresSearchCompiler.Instance : Search.SearchQueryCompiler.Instance;

    /// <summary>Opens an existing store; the caller disposes it.</summary>
    /// <param name="db">The <c>--db</c> value (a SQLite path is taken as given; the caller makes it full).</param>
    /// <param name="readOnly">Whether the command only reads.</param>
    /// <returns>The store.</returns>
    /// <exception cref="FileNotFoundException">There is no SQLite store at the path.</exception>
    /// <exception cref="StoreUnavailableException">The PostgreSQL server cannot be reached, or holds no catcher store.</exception>
    public static IMessageStore OpenExisting(string db, bool readOnly)
    {
        if (!PostgresConnection.IsPostgres(db))
        {
            return MessageStore.Open(db, readOnly);
        }

        var location = PostgresConnection.Describe(db);
        NpgsqlConnection? connection = null;
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(PostgresConnection.Normalize(db)) { ApplicationName = "smtpd store command" };
            connection = new NpgsqlConnection(builder.ConnectionString);
            connection.Open();
            // Never migrates: a command reads or deletes what a catcher made; a database without the version table
            // holds no store, and a schema newer than this smtpd knows may have columns it would misread.
            // Two statements: a query that names a missing table fails as it is parsed, whatever a CASE around it says.
            var current = PostgresSchema.Scalar(connection, "SELECT to_regclass('smtpd_schema_version') IS NOT NULL") is true
                ? Convert.ToInt32(PostgresSchema.Scalar(connection, "SELECT coalesce(max(version), 0) FROM smtpd_schema_version"), System.Globalization.CultureInfo.InvariantCulture)
                : 0;
            if (current <= 0)
            {
                throw new StoreUnavailableException($"no store in {location} (start the catcher with --db first)");
            }

            if (current != PostgresSchema.Version)
            {
                throw new StoreUnavailableException($"the store in {location} has schema version {current}; this smtpd reads version {PostgresSchema.Version} (start this smtpd's catcher on it once to migrate)");
            }

            return new PostgresMessageStore(connection);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or ArgumentException)
        {
            connection?.Dispose();
            throw new StoreUnavailableException($"cannot open the PostgreSQL store {location}: {ex.Message}", ex);
        }
        catch
        {
            connection?.Dispose();
            throw;
        }
    }
}
