namespace Smtpd.Cli.Tests.Support;

/// <summary>A fresh directory per test, holding its store, config, Maildir and certificates; removed afterwards.</summary>
public sealed class TestDirectory : IDisposable
{
    public TestDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "smtpd-cli-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>The store every catcher and command of the test uses unless told otherwise.</summary>
    public string Database => Combine("store.db");

    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // A process that outlived its test may still hold a file; the temporary folder is cleaned anyway.
        }
    }
}
