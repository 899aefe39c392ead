using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Mvc.Testing;
using Smtpd.Testing.Xunit;

namespace Smtpd.Testing.Tests;

/// <summary>
/// The README's ASP.NET Core example: the sample web app (samples/WebApp) runs in process under
/// WebApplicationFactory, with its "Smtp" settings pointed at the test server.
/// </summary>
public sealed class WebApplicationTests(SmtpTestServerFixture smtp) : IClassFixture<SmtpTestServerFixture>
{
    [Fact]
    public async Task SigningUpMailsALinkAndACodeThatConfirmTheAddress()
    {
        await using var app = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web
            .UseSetting("Smtp:Host", smtp.Server.Host)
            .UseSetting("Smtp:Port", smtp.Server.Port.ToString(CultureInfo.InvariantCulture)));
        using var http = app.CreateClient();

        var signup = await http.PostAsJsonAsync("/signup", new { Email = "bob@example.com" }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Accepted, signup.StatusCode);

        var mail = await smtp.Server.WaitForMessageAsync(m => m.IsTo("bob@example.com"), cancellationToken: TestContext.Current.CancellationToken);
        var link = mail.GetFirstLink(u => u.AbsolutePath == "/confirm");
        var code = mail.GetCode();
        Assert.Equal("Confirm your address", mail.Subject);

        var confirm = await http.PostAsync($"/confirm{link.Query}&code={code}", content: null, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, confirm.StatusCode);
    }

    [Fact]
    public async Task AnSmtpOutageSurfacesAsAServerError()
    {
        await using var app = new WebApplicationFactory<Program>().WithWebHostBuilder(web => web
            .UseSetting("Smtp:Host", smtp.Server.Host)
            .UseSetting("Smtp:Port", smtp.Server.Port.ToString(CultureInfo.InvariantCulture)));
        using var http = app.CreateClient();
        smtp.Server.Faults.Reject(SmtpFaultPoint.Mail, 421, text: "Service not available");

        var signup = await http.PostAsJsonAsync("/signup", new { Email = "bob@example.com" }, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.InternalServerError, signup.StatusCode);
        Assert.Contains("4.3.2 Service not available", await signup.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        smtp.Server.Messages.AssertNoMessageTo("bob@example.com");
    }
}
