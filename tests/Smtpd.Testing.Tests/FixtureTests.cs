using Smtpd.Testing.Xunit;

namespace Smtpd.Testing.Tests;

/// <summary>
/// The class fixture: one server for these tests, cleared before each. Every test expects an empty server and
/// leaves a message and a fault behind, so whichever runs second fails if the clearing does not happen.
/// </summary>
public sealed class FixtureTests(SmtpTestServerFixture fixture) : IClassFixture<SmtpTestServerFixture>
{
    private readonly SmtpTestServer _smtp = fixture.Server;

    [Fact]
    public Task TheFirstTestStartsFromAnEmptyServer() => ExpectEmptyThenLeaveSomethingBehindAsync();

    [Fact]
    public Task TheSecondTestStartsFromAnEmptyServerToo() => ExpectEmptyThenLeaveSomethingBehindAsync();

    [Fact]
    public Task TheThirdTestStartsFromAnEmptyServerAsWell() => ExpectEmptyThenLeaveSomethingBehindAsync();

    [Fact]
    public void EveryTestOfTheClassSharesOneServer()
    {
        Assert.Same(_smtp, fixture.Server);
        Assert.True(_smtp.Server.IsRunning);
        Assert.Equal(fixture.Server.Port, _smtp.Port);
    }

    private async Task ExpectEmptyThenLeaveSomethingBehindAsync()
    {
        Assert.Empty(_smtp.Messages);
        Assert.Empty(_smtp.Faults.Scripted);

        await Mail.SendAsync(_smtp);
        _smtp.Faults.Delay(SmtpFaultPoint.Noop, TimeSpan.FromSeconds(1));

        Assert.Single(fixture.Server.Messages);
        Assert.Single(fixture.Server.Faults.Scripted);
    }
}

/// <summary>A fixture configured by derivation: STARTTLS and AUTH for the whole class.</summary>
public sealed class SecureSmtpFixture : SmtpTestServerFixture
{
    protected override void Configure(SmtpTestServerOptions options) => options.UseStartTls().RequireAuthentication("app", "secret");
}

public sealed class DerivedFixtureTests(SecureSmtpFixture fixture) : IClassFixture<SecureSmtpFixture>
{
    [Fact]
    public async Task ADerivedFixtureConfiguresItsServer()
    {
        await Mail.SendAsync(fixture.Server);

        var session = Assert.Single(fixture.Server.Messages).Session;
        Assert.True(session.IsSecure);
        Assert.Equal("app", session.AuthenticatedIdentity);
    }

    [Fact]
    public async Task ReadingTheServerBeforeInitialisationFails()
    {
        var uninitialised = new SmtpTestServerFixture();
        Assert.Throws<InvalidOperationException>(() => uninitialised.Server);

        await uninitialised.InitializeAsync();
        Assert.True(uninitialised.Server.Server.IsRunning);
        await uninitialised.DisposeAsync();
        Assert.Throws<InvalidOperationException>(() => uninitialised.Server);
    }
}
