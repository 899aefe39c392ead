using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Smtpd.Hosting;

/// <summary>Registers the handler types of a hosted Smtpd server, as returned by <c>AddSmtpd</c>.</summary>
/// <remarks>
/// Handlers are registered as scoped services and resolved in a new scope for each message (delivery handlers) or
/// each call (validators and authenticators), so they can use scoped services such as a <c>DbContext</c>. Several
/// handlers of one kind run in registration order. A kind with handlers must not also have its callback set in
/// code (<see cref="SmtpServerOptions.Deliver"/> and its siblings): validation at start reports the conflict.
/// </remarks>
public sealed class SmtpdBuilder
{
    internal SmtpdBuilder(IServiceCollection services) => Services = services;

    /// <summary>The service collection, to register what the handlers need.</summary>
    public IServiceCollection Services { get; }

    /// <summary>Adds a handler that receives each message as raw bytes.</summary>
    /// <typeparam name="THandler">The handler type.</typeparam>
    /// <returns>This builder.</returns>
    public SmtpdBuilder AddMessageHandler<THandler>()
        where THandler : class, ISmtpMessageHandler => Add<ISmtpMessageHandler, THandler>();

    /// <summary>Adds a handler that receives each message parsed by MimeKit.</summary>
    /// <typeparam name="THandler">The handler type.</typeparam>
    /// <returns>This builder.</returns>
    public SmtpdBuilder AddMimeMessageHandler<THandler>()
        where THandler : class, ISmtpMimeMessageHandler => Add<ISmtpMimeMessageHandler, THandler>();

    /// <summary>Adds a validator of connecting clients.</summary>
    /// <typeparam name="TValidator">The validator type.</typeparam>
    /// <returns>This builder.</returns>
    public SmtpdBuilder AddHostValidator<TValidator>()
        where TValidator : class, ISmtpHostValidator => Add<ISmtpHostValidator, TValidator>();

    /// <summary>Adds a validator of senders (MAIL).</summary>
    /// <typeparam name="TValidator">The validator type.</typeparam>
    /// <returns>This builder.</returns>
    public SmtpdBuilder AddSenderValidator<TValidator>()
        where TValidator : class, ISmtpSenderValidator => Add<ISmtpSenderValidator, TValidator>();

    /// <summary>Adds a validator of recipients (RCPT).</summary>
    /// <typeparam name="TValidator">The validator type.</typeparam>
    /// <returns>This builder.</returns>
    public SmtpdBuilder AddRecipientValidator<TValidator>()
        where TValidator : class, ISmtpRecipientValidator => Add<ISmtpRecipientValidator, TValidator>();

    /// <summary>Adds an authenticator; with one, the server offers AUTH.</summary>
    /// <typeparam name="TAuthenticator">The authenticator type.</typeparam>
    /// <returns>This builder.</returns>
    public SmtpdBuilder AddAuthenticator<TAuthenticator>()
        where TAuthenticator : class, ISmtpAuthenticator => Add<ISmtpAuthenticator, TAuthenticator>();

    private SmtpdBuilder Add<TService, TImplementation>()
        where TService : class
        where TImplementation : class, TService
    {
        Services.TryAddEnumerable(ServiceDescriptor.Scoped<TService, TImplementation>());
        return this;
    }
}
