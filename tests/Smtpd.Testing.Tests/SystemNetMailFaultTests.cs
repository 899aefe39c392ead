using SmtpException = System.Net.Mail.SmtpException;
using SmtpFailedRecipientException = System.Net.Mail.SmtpFailedRecipientException;
using SmtpStatusCode = System.Net.Mail.SmtpStatusCode;

namespace Smtpd.Testing.Tests;

/// <summary>The fault scripts as System.Net.Mail sees them: the exception type and its StatusCode.</summary>
public sealed class SystemNetMailFaultTests
{
    public static TheoryData<string, string, SmtpStatusCode> Scripts => new()
    {
        { "Reject Rcpt 452", nameof(SmtpFailedRecipientException), SmtpStatusCode.InsufficientStorage },
        { "Reject Mail 421", nameof(SmtpException), SmtpStatusCode.ServiceNotAvailable },
        { "Reject Data 451", nameof(SmtpException), SmtpStatusCode.LocalErrorInProcessing },
        { "Reject Message 554", nameof(SmtpException), SmtpStatusCode.TransactionFailed },
        { "Disconnect Mail", nameof(SmtpException), SmtpStatusCode.GeneralFailure },
        { "Disconnect Message", nameof(SmtpException), SmtpStatusCode.GeneralFailure },
        { "Reject Connect 554", nameof(SmtpException), SmtpStatusCode.TransactionFailed },
        { "Delay Message", nameof(SmtpException), SmtpStatusCode.GeneralFailure },
    };

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task EachScriptSurfacesAsAnSmtpExceptionWithItsStatusCode(string script, string exceptionType, SmtpStatusCode statusCode)
    {
        await using var smtp = await SmtpTestServer.StartAsync(cancellationToken: TestContext.Current.CancellationToken);
        var parts = script.Split(' ');
        var point = Enum.Parse<SmtpFaultPoint>(parts[1]);
        _ = parts[0] switch
        {
            "Reject" => smtp.Faults.Reject(point, int.Parse(parts[2], System.Globalization.CultureInfo.InvariantCulture)),
            "Disconnect" => smtp.Faults.Disconnect(point),
            _ => smtp.Faults.Delay(point, TimeSpan.FromSeconds(5)),
        };
        using var client = new System.Net.Mail.SmtpClient(smtp.Host, smtp.Port) { Timeout = 300 };

        var error = await Assert.ThrowsAnyAsync<SmtpException>(() => client.SendMailAsync("alice@example.com", "bob@example.com", "s", "b", TestContext.Current.CancellationToken));

        Assert.Equal(exceptionType, error.GetType().Name);
        Assert.Equal(statusCode, error.StatusCode);
        Assert.Empty(smtp.Messages);
    }
}
