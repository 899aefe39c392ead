using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Smtpd.Hosting;

/// <summary>Builds the hosted <see cref="SmtpServer"/>: validated options, the certificate file, the handlers from DI, and the host's logging.</summary>
internal static class SmtpdServerFactory
{
    public static SmtpServer Create(IServiceProvider services)
    {
        var settings = services.GetRequiredService<IOptions<SmtpdOptions>>().Value;
        var options = settings.Server.Clone();
        if (settings.Certificate is { Path: { Length: > 0 } path } certificate)
        {
            options.ServerCertificate = LoadCertificate(path, certificate.Password, certificate.KeyPath);
        }

        var scopes = services.GetRequiredService<IServiceScopeFactory>();
        var registered = services.GetService<IServiceProviderIsService>();
        bool Has<T>() => registered?.IsService(typeof(T)) ?? false;

        if (Has<ISmtpMessageHandler>() || Has<ISmtpMimeMessageHandler>())
        {
            options.Deliver = (message, ct) => DeliverAsync(scopes, message, ct);
        }

        if (Has<ISmtpHostValidator>())
        {
            options.ValidateHost = (session, ct) => AllAcceptAsync<ISmtpHostValidator>(scopes, v => v.ValidateHostAsync(session, ct));
        }

        if (Has<ISmtpSenderValidator>())
        {
            options.ValidateSender = (session, sender, ct) => AllAcceptAsync<ISmtpSenderValidator>(scopes, v => v.ValidateSenderAsync(session, sender, ct));
        }

        if (Has<ISmtpRecipientValidator>())
        {
            options.ValidateRecipient = (session, recipient, ct) => AllAcceptAsync<ISmtpRecipientValidator>(scopes, v => v.ValidateRecipientAsync(session, recipient, ct));
        }

        if (Has<ISmtpAuthenticator>())
        {
            options.Authenticate = (session, credentials, ct) => AuthenticateAsync(scopes, session, credentials, ct);
        }

        return new SmtpServer(options, services.GetService<ILoggerFactory>());
    }

    private static X509Certificate2 LoadCertificate(string path, string? password, string? keyPath)
    {
        try
        {
            return Smtpd.Configuration.CertificateLoader.Load(path, keyPath, password);
        }
        catch (Smtpd.Configuration.CertificateLoadException ex)
        {
            throw new InvalidOperationException($"Smtpd: the certificate '{path}' cannot be loaded: {ex.Message}", ex);
        }
    }

    /// <summary>Runs the delivery handlers in one scope for the message: raw-byte handlers, then MIME handlers on one parse.</summary>
    private static async ValueTask<SmtpVerdict> DeliverAsync(IServiceScopeFactory scopes, SmtpMessage message, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var verdict = SmtpVerdict.Accept;
        foreach (var handler in scope.ServiceProvider.GetServices<ISmtpMessageHandler>())
        {
            verdict = await handler.HandleAsync(message, cancellationToken);
            if (!verdict.IsAccepted)
            {
                return verdict;
            }
        }

        var mimeHandlers = scope.ServiceProvider.GetServices<ISmtpMimeMessageHandler>().ToArray();
        if (mimeHandlers.Length == 0)
        {
            return verdict;
        }

        await using var content = message.OpenRead();
        MimeMessage mime;
        try
        {
            mime = await MimeMessage.LoadAsync(content, persistent: true, cancellationToken);
        }
        catch (FormatException)
        {
            return SmtpVerdict.Reject(554, "5.6.0", "Message could not be parsed as MIME");
        }

        using (mime)
        {
            foreach (var handler in mimeHandlers)
            {
                verdict = await handler.HandleAsync(message, mime, cancellationToken);
                if (!verdict.IsAccepted)
                {
                    return verdict;
                }
            }
        }

        return verdict;
    }

    /// <summary>Asks each validator in a new scope; the first rejection wins, else the last verdict (which may carry its own reply).</summary>
    private static async ValueTask<SmtpVerdict> AllAcceptAsync<TValidator>(IServiceScopeFactory scopes, Func<TValidator, ValueTask<SmtpVerdict>> validate)
        where TValidator : notnull
    {
        await using var scope = scopes.CreateAsyncScope();
        var verdict = SmtpVerdict.Accept;
        foreach (var validator in scope.ServiceProvider.GetServices<TValidator>())
        {
            verdict = await validate(validator);
            if (!verdict.IsAccepted)
            {
                return verdict;
            }
        }

        return verdict;
    }

    /// <summary>Asks each authenticator in a new scope until one accepts (or asks to disconnect); else the last rejection.</summary>
    private static async ValueTask<SmtpVerdict> AuthenticateAsync(IServiceScopeFactory scopes, SmtpSessionContext session, SmtpAuthentication credentials, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        var verdict = SmtpVerdict.Reject("no authenticator accepted");
        foreach (var authenticator in scope.ServiceProvider.GetServices<ISmtpAuthenticator>())
        {
            verdict = await authenticator.AuthenticateAsync(session, credentials, cancellationToken);
            if (verdict.IsAccepted || verdict.IsDisconnect)
            {
                return verdict;
            }
        }

        return verdict;
    }
}
