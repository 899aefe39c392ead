using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;

namespace Smtpd.Fuzz;

/// <summary>
/// The catcher's search query parser and its SQL compiler (docs/search.md): the input, as UTF-8, is a query. It must
/// either parse or fail with <c>SearchSyntaxException</c> (one line, an offset inside the query); a parsed query must
/// compile, the same way twice, to SQL that names only its own parameters and no user text, and that SQL must prepare
/// and run in SQLite against the store's schema, in a SELECT, a count and a DELETE.
/// </summary>
internal static partial class SearchTarget
{
    private static readonly TimeZoneInfo[] Zones =
    [
        TimeZoneInfo.Utc,
        TimeZoneInfo.CreateCustomTimeZone("Fuzz+14", TimeSpan.FromHours(14), "Fuzz+14", "Fuzz+14"),
        TimeZoneInfo.CreateCustomTimeZone("Fuzz-12", TimeSpan.FromHours(-12), "Fuzz-12", "Fuzz-12"),
    ];

    private static SqliteConnection? s_connection;

    public static void Run(byte[] input)
    {
        var query = Encoding.UTF8.GetString(input);
        object parsed;
        try
        {
            parsed = Internals.ParseSearch(null, query, null);
        }
        catch (Exception ex) when (ex.GetType().Name == "SearchSyntaxException")
        {
            var position = Internals.SearchErrorPosition(ex);
            Check.That(position >= 0 && position <= query.Length, $"the error offset {position} is inside the query of {query.Length} characters");
            Check.That(!ex.Message.Contains('\n', StringComparison.Ordinal) && !ex.Message.Contains('\r', StringComparison.Ordinal), "a syntax error is one line");
            return;
        }

        var connection = s_connection ??= Open();
        foreach (var zone in Zones)
        {
            var search = Internals.CompileSearch(null, parsed, zone);
            var where = Internals.SearchWhere(search);
            var parameters = Internals.SearchParameters(search);
            var again = Internals.CompileSearch(null, Internals.ParseSearch(null, query, null), zone);
            Check.That(where == Internals.SearchWhere(again) && parameters.SequenceEqual(Internals.SearchParameters(again)), "compiling is deterministic");
            CheckSql(where, parameters);
            Execute(connection, $"SELECT id FROM messages WHERE {where} ORDER BY id DESC LIMIT 50", parameters);
            Execute(connection, $"SELECT count(*) FROM messages WHERE {where}", parameters);
            using var transaction = connection.BeginTransaction();
            Execute(connection, $"DELETE FROM messages WHERE {where}", parameters, transaction);
            transaction.Rollback();
        }
    }

    /// <summary>
    /// The SQL is the compiler's own: once the parameter names are taken out, only lower-case identifiers, the SQL
    /// keywords it uses, and its fixed literals remain. User text that leaked in would bring anything else.
    /// </summary>
    private static void CheckSql(string where, IReadOnlyList<KeyValuePair<string, object>> parameters)
    {
        foreach (var (name, _) in parameters)
        {
            Check.That(ParameterName().IsMatch(name) && where.Contains(name, StringComparison.Ordinal), $"the parameter {name} is named $sqN and used");
        }

        var rest = ParameterName().Replace(where, " ");
        rest = Keywords().Replace(rest, " ");
        Check.That(CompilerAlphabet().IsMatch(rest), $"the SQL has only the compiler's own text: {where}");
        Check.That(!where.Contains(';', StringComparison.Ordinal) && !where.Contains("--", StringComparison.Ordinal) && !where.Contains("/*", StringComparison.Ordinal), "no statement separator or comment");
    }

    private static void Execute(SqliteConnection connection, string sql, IReadOnlyList<KeyValuePair<string, object>> parameters, SqliteTransaction? transaction = null)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
        }
    }

    /// <summary>A database with the store's schema (StoreSchema itself) and two messages, so correlated subqueries and json_each run.</summary>
    private static SqliteConnection Open()
    {
        var connection = Internals.OpenStoreInMemory(null);
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO messages (id, received_at, mail_from, rcpt_to, client, tls, size, sha256, subject, header_from, header_to, header_cc, message_id, has_attachments)
            VALUES (1, '2024-04-01T00:00:00.0000000Z', 'a@b.example', '["c@d.example","e@f.example"]', '127.0.0.1:1', 0, 1000, '', 'Hello "world"', 'A <a@b.example>', 'c@d.example', NULL, 'x@y', 0),
                   (2, '2024-04-02T00:00:00.0000000Z', '', '[]', '127.0.0.1:1', 0, 5000000, '', NULL, NULL, NULL, 'E <e@f.example>', NULL, 1);
            INSERT INTO messages_fts (rowid, subject, addresses, body) VALUES (1, 'Hello "world"', 'a@b.example c@d.example', 'body text 123456');
            INSERT INTO message_tags (message_id, tag) VALUES (1, 'Urgent');
            INSERT INTO message_headers (message_id, seq, name, value) VALUES (1, 0, 'x-mailer', 'fuzz');
            """;
        command.ExecuteNonQuery();
        return connection;
    }

    [GeneratedRegex(@"\$sq[0-9]+")]
    private static partial Regex ParameterName();

    [GeneratedRegex(@"\b(?:SELECT|FROM|WHERE|AND|OR|NOT|IN|EXISTS|LIKE|ESCAPE|MATCH|AS)\b")]
    private static partial Regex Keywords();

    [GeneratedRegex(@"^[a-z0-9_ .,()'<>=|\\*%-]*$")]
    private static partial Regex CompilerAlphabet();
}
