using Npgsql;

namespace Smtpd.Catcher.Storage.Postgres;

/// <summary>Reads the two spellings of a PostgreSQL store that <c>--db</c> and <see cref="CatcherOptions.DatabaseConnectionString"/> take.</summary>
internal static class PostgresConnection
{
    /// <summary>Whether <paramref name="value"/> names a PostgreSQL database rather than a SQLite file: a <c>postgres://</c> or <c>postgresql://</c> URL, or a connection string with a <c>Host=</c>.</summary>
    /// <param name="value">The <c>--db</c> value.</param>
    /// <returns>Whether it is PostgreSQL.</returns>
    public static bool IsPostgres(string value) =>
        value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
        || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || (value.Contains('=', StringComparison.Ordinal) && HasHost(value));

    private static bool HasHost(string value)
    {
        var text = ";" + value.Replace(" ", string.Empty, StringComparison.Ordinal);
        return text.Contains(";host=", StringComparison.OrdinalIgnoreCase) || text.Contains(";server=", StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Turns either spelling into an Npgsql connection string. A URL (libpq's form, as Heroku and most hosting
    /// print it) becomes <c>Host;Port;Username;Password;Database</c>, its query parameters kept as keywords.
    /// </summary>
    /// <param name="value">The URL or connection string.</param>
    /// <returns>The connection string.</returns>
    /// <exception cref="ArgumentException">The value is neither, or names no host.</exception>
    public static string Normalize(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        NpgsqlConnectionStringBuilder builder;
        if (value.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase) || value.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
            {
                throw new ArgumentException($"not a PostgreSQL URL (postgres://user:pass@host:port/db): {Redact(value)}", nameof(value));
            }

            builder = new NpgsqlConnectionStringBuilder { Host = uri.Host, Port = uri.IsDefaultPort || uri.Port <= 0 ? 5432 : uri.Port };
            if (uri.UserInfo is { Length: > 0 } userInfo)
            {
                var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
                builder.Username = Uri.UnescapeDataString(colon < 0 ? userInfo : userInfo[..colon]);
                if (colon >= 0)
                {
                    builder.Password = Uri.UnescapeDataString(userInfo[(colon + 1)..]);
                }
            }

            var database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
            if (database.Length > 0)
            {
                builder.Database = database;
            }

            foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
                var keyValue = equals < 0 ? "true" : Uri.UnescapeDataString(pair[(equals + 1)..]);
                // libpq's sslmode is Npgsql's SSL Mode; the other keywords Npgsql knows pass through.
                builder[key.Equals("sslmode", StringComparison.OrdinalIgnoreCase) ? "SSL Mode" : key] = keyValue;
            }
        }
        else
        {
            try
            {
                builder = new NpgsqlConnectionStringBuilder(value);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
            {
                throw new ArgumentException($"not a PostgreSQL connection string: {ex.Message}", nameof(value), ex);
            }

            if (string.IsNullOrEmpty(builder.Host))
            {
                throw new ArgumentException("the PostgreSQL connection string names no Host", nameof(value));
            }
        }

        return builder.ConnectionString;
    }

    /// <summary>The server and database a connection string names, without its password, for messages and <c>/api/v1/info</c>.</summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <returns><c>postgres://user@host:port/db</c>.</returns>
    public static string Describe(string connectionString)
    {
        try
        {
            var b = new NpgsqlConnectionStringBuilder(Normalize(connectionString));
            return $"postgres://{(string.IsNullOrEmpty(b.Username) ? string.Empty : b.Username + "@")}{b.Host}:{b.Port}/{b.Database}";
        }
        catch (ArgumentException)
        {
            return "(an invalid PostgreSQL connection string)";
        }
    }

    private static string Redact(string url)
    {
        var at = url.IndexOf('@', StringComparison.Ordinal);
        var scheme = url.IndexOf("://", StringComparison.Ordinal);
        return at > scheme && scheme >= 0 ? string.Concat(url.AsSpan(0, scheme + 3), "…", url.AsSpan(at)) : url;
    }
}
