using Xunit;

namespace Smtpd.Testing.Xunit;

/// <summary>
/// An xunit v3 class fixture: one <see cref="SmtpTestServer"/> for all the tests of a class, started before the
/// first and stopped after the last. Before each test sees it, its messages and faults are cleared, so every test
/// starts from an empty server.
/// </summary>
/// <remarks>
/// <para>
/// The clearing happens the first time a test reads <see cref="Server"/> (usually in the test class constructor,
/// which xunit runs once per test). A test is recognised by xunit's <see cref="TestContext"/>, so work left running
/// by an earlier test cannot clear the server under a later one.
/// </para>
/// <para>
/// To configure the server, derive from this class and override <see cref="Configure"/>. Tests of one class run one
/// after another; different classes have different servers and run in parallel.
/// </para>
/// </remarks>
/// <example>
/// <code>
/// public sealed class SignupTests(SmtpTestServerFixture smtp) : IClassFixture&lt;SmtpTestServerFixture&gt;
/// {
///     [Fact]
///     public async Task SignupSendsAConfirmationLink()
///     {
///         await signup.RegisterAsync("bob@example.com", smtp.Server.Host, smtp.Server.Port);
///         var mail = await smtp.Server.WaitForMessageAsync(m =&gt; m.IsTo("bob@example.com"));
///         Assert.Equal("/confirm", mail.GetFirstLink().AbsolutePath);
///     }
/// }
/// </code>
/// </example>
public class SmtpTestServerFixture : IAsyncLifetime
{
    private readonly HashSet<string> _testsSeen = new(StringComparer.Ordinal);
    private SmtpTestServer? _server;

    /// <summary>
    /// The server, cleared of the messages and faults of earlier tests the first time each test reads it.
    /// </summary>
    /// <exception cref="InvalidOperationException">Read before xunit initialised the fixture or after it was disposed.</exception>
    public SmtpTestServer Server
    {
        get
        {
            var server = _server ?? throw new InvalidOperationException("The SMTP test server is not running: the fixture is not initialised, or already disposed.");
            if (TestContext.Current.Test?.UniqueID is { } test)
            {
                bool first;
                lock (_testsSeen)
                {
                    first = _testsSeen.Add(test);
                }

                if (first)
                {
                    server.Clear();
                    server.Faults.Clear();
                }
            }

            return server;
        }
    }

    /// <summary>Starts the server. Called by xunit before the first test of the class.</summary>
    /// <returns>A task that completes when the server listens.</returns>
    public async ValueTask InitializeAsync() => _server = await SmtpTestServer.StartAsync(Configure, TestContext.Current.CancellationToken);

    /// <summary>Stops the server. Called by xunit after the last test of the class.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    public async ValueTask DisposeAsync()
    {
        await DisposeAsyncCore();
        GC.SuppressFinalize(this);
    }

    /// <summary>Changes the server's options before it starts. Does nothing unless overridden.</summary>
    /// <param name="options">The options, for example <c>options.UseStartTls()</c>.</param>
    protected virtual void Configure(SmtpTestServerOptions options)
    {
    }

    /// <summary>Stops the server; override to release more, calling the base.</summary>
    /// <returns>A task that completes when the server has stopped.</returns>
    protected virtual async ValueTask DisposeAsyncCore()
    {
        if (_server is { } server)
        {
            _server = null;
            await server.DisposeAsync();
        }
    }
}
