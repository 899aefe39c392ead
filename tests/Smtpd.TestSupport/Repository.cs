namespace Smtpd.TestSupport;

/// <summary>The clone the tests run from: found by walking up from the test's build output to <c>Smtpd.slnx</c>.</summary>
public static class Repository
{
    /// <summary>The repository's root folder.</summary>
    /// <exception cref="InvalidOperationException">No <c>Smtpd.slnx</c> above the build output (the tests run outside a clone).</exception>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Smtpd.slnx")))
        {
            root = root.Parent;
        }

        return root?.FullName ?? throw new InvalidOperationException("Smtpd.slnx not found above " + AppContext.BaseDirectory);
    }
}
