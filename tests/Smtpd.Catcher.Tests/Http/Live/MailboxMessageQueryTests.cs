using Microsoft.Extensions.DependencyInjection;
using MimeKit;
using Smtpd.Catcher.Http;
using Smtpd.Catcher.Http.Live;

namespace Smtpd.Catcher.Tests.Http.Live;

/// <summary>
/// The wait's test of each new message (<see cref="MailboxMessageQuery.MatchesAsync"/>) is the search's own test in
/// its row-at-a-time form, so it must agree with <c>/api/v1/search</c> on every kind of term, over a store where the
/// index form would find other candidates too.
/// </summary>
public sealed class MailboxMessageQueryTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("subject:invoice")]
    [InlineData("subject:\"order 12345\"")]
    [InlineData("from:carol@")]
    [InlineData("to:dave@example.org")]
    [InlineData("invoice")]
    [InlineData("\"lorem ipsum\"")]
    [InlineData("zebra -subject:invoice")]
    [InlineData("is:unread")]
    [InlineData("is:read")]
    [InlineData("has:attachment")]
    public async Task MatchingANewMessageAgreesWithTheSearchForEveryKindOfTerm(string query)
    {
        await using var host = await CatcherHost.StartAsync();
        string[] subjects = ["Invoice 1", "Your order 12345 has shipped", "Welcome", "Invoice 2 for zebra", "Meeting"];
        string[] bodies = ["lorem ipsum dolor", "zebra crossing", "ipsum lorem", "lorem ipsum zebra", "nothing here"];
        var ids = new List<string>();
        for (var i = 0; i < subjects.Length; i++)
        {
            var message = new MimeMessage();
            message.From.Add(MailboxAddress.Parse(i % 2 == 0 ? "carol@example.com" : "alice@example.com"));
            message.To.Add(MailboxAddress.Parse(i == 3 ? "dave@example.org" : "bob@example.org"));
            message.Subject = subjects[i];
            var builder = new BodyBuilder { TextBody = bodies[i] };
            if (i == 1)
            {
                builder.Attachments.Add("a.bin", [1, 2, 3]);
            }

            message.Body = builder.ToMessageBody();
            ids.Add(await host.SendAsync(message));
        }

        // One read message, so is:unread and is:read each leave some out.
        using (var read = await host.Client.PutAsync("/api/v1/messages", MessagesApiTests.JsonContent("{\"IDs\":[\"" + ids[2] + "\"],\"Read\":true}"), Cancel))
        {
            read.EnsureSuccessStatusCode();
        }

        var search = await host.GetJsonAsync("/api/v1/search?query=" + Uri.EscapeDataString(query));
        var expected = search.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("ID").GetString()).ToHashSet();
        var mailbox = host.Services.GetRequiredService<CatcherMailbox>();
        var matcher = new MailboxMessageQuery(mailbox);
        foreach (var id in ids)
        {
            var record = mailbox.Use(store => store.FindWithTags(long.Parse(id, System.Globalization.CultureInfo.InvariantCulture)))!;
            Assert.True(expected.Contains(id) == await matcher.MatchesAsync(query, new CatcherStoredMessage(id, record), Cancel), $"message {id} ({record.Subject}) for {query}");
        }

        Assert.NotEmpty(expected);
        Assert.NotEqual(ids.Count, expected.Count);
    }
}
