using Microsoft.Data.Sqlite;

namespace Smtpd.Catcher.Tests.Storage;

/// <summary>A temporary directory for one test's SQLite store; disposing closes the pooled connections and deletes it.</summary>
internal sealed class SqliteStoreDirectory(string prefix) : IDisposable
{
    /// <summary>The directory.</summary>
    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory(prefix).FullName;

    /// <summary>The store's file in it.</summary>
    public string Database => Path.Combine(Directory, "store.db");

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
