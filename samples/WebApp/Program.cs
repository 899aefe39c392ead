using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Smtpd.Samples.WebApp;

var builder = WebApplication.CreateBuilder(args);
builder.Services.Configure<SmtpSettings>(builder.Configuration.GetSection("Smtp"));
builder.Services.AddSingleton<EmailSender>();
builder.Services.AddSingleton<ConcurrentDictionary<string, string>>(); // pending sign-ups: token -> code

var app = builder.Build();

// Sign-up mails a confirmation link and a six-digit code.
app.MapPost("/signup", async (SignupRequest request, EmailSender mail, ConcurrentDictionary<string, string> pending, IOptions<SmtpSettings> smtp, CancellationToken ct) =>
{
    var token = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
    var code = RandomNumberGenerator.GetInt32(0, 1_000_000).ToString("D6", CultureInfo.InvariantCulture);
    pending[token] = code;
    var link = new Uri(smtp.Value.PublicUrl, $"/confirm?token={token}");
    await mail.SendAsync(
        request.Email,
        "Confirm your address",
        $"Welcome! Open {link} and enter the code {code}.\r\n",
        $"<p>Welcome! <a href=\"{link}\">Confirm your address</a> and enter the code <b>{code}</b>.</p>",
        ct);
    return Results.Accepted();
});

// Confirmation checks the code that belongs to the link's token.
app.MapPost("/confirm", (string token, string code, ConcurrentDictionary<string, string> pending) =>
    pending.TryGetValue(token, out var expected) && expected == code && pending.TryRemove(token, out _)
        ? Results.Ok("confirmed")
        : Results.BadRequest("wrong code"));

await app.RunAsync();

/// <summary>Lets WebApplicationFactory&lt;Program&gt; find the app from the tests.</summary>
public partial class Program;
