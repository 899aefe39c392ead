using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Smtpd.Hosting;

/// <summary>Validates <see cref="SmtpdOptions"/> when the host starts (<c>ValidateOnStart</c>), reporting every problem at once.</summary>
internal sealed class SmtpdOptionsValidator(IServiceProviderIsService? services = null) : IValidateOptions<SmtpdOptions>
{
    public ValidateOptionsResult Validate(string? name, SmtpdOptions options)
    {
        var errors = new List<string>(options.BindingErrors);
        foreach (var endpoint in options.Endpoints)
        {
            if (endpoint.Port is < IPEndPoint.MinPort or > IPEndPoint.MaxPort)
            {
                errors.Add($"Endpoint {endpoint}: the port must be from 0 to 65535.");
            }

            if (!SmtpdHostedService.IsValidAddress(endpoint.Address))
            {
                errors.Add($"Endpoint {endpoint}: '{endpoint.Address}' is neither an IP address, a host name nor '*'.");
            }

            foreach (var proxy in endpoint.TrustedProxies.Where(p => !SmtpdEndpointOptions.TryParseNetwork(p, out _)))
            {
                errors.Add($"Endpoint {endpoint}: TrustedProxies entry '{proxy}' is neither a CIDR block (10.0.0.0/8, with no bits set after the prefix) nor an IP address.");
            }

            if (endpoint.ProxyProtocol && endpoint.TrustedProxies.Count == 0)
            {
                errors.Add($"Endpoint {endpoint}: ProxyProtocol needs TrustedProxies, the proxies allowed to send PROXY headers.");
            }

            if (!Enum.IsDefined(endpoint.Protocol))
            {
                errors.Add($"Endpoint {endpoint}: the protocol must be Smtp or Lmtp.");
            }
            else if (endpoint.Protocol == SmtpListenerProtocol.Lmtp && endpoint.Port == SmtpServer.DefaultPort)
            {
                // RFC 2033 5; the port defaults to 25, so an LMTP endpoint must name its own.
                errors.Add($"Endpoint {endpoint}: LMTP must not use port 25 (RFC 2033); set Port, for example 24.");
            }
        }

        var certificate = options.Certificate;
        var hasCertificateFile = !string.IsNullOrWhiteSpace(certificate?.Path);
        if (certificate is not null)
        {
            if (!hasCertificateFile)
            {
                errors.Add("Certificate: Path is required.");
            }
            else if (!File.Exists(certificate.Path))
            {
                errors.Add($"Certificate: the file '{certificate.Path}' does not exist.");
            }

            if (certificate.KeyPath is { } key && !File.Exists(key))
            {
                errors.Add($"Certificate: the key file '{key}' does not exist.");
            }
        }

        var tls = hasCertificateFile || options.Server.ServerCertificate is not null || options.Server.ServerCertificateSelector is not null;
        if (!tls && options.Endpoints.Any(e => e.ImplicitTls))
        {
            errors.Add("An ImplicitTls endpoint needs a certificate: set Certificate:Path, or Server.ServerCertificate in code.");
        }

        if (!tls && options.Server.RequireTls)
        {
            errors.Add("RequireTls needs a certificate: set Certificate:Path, or Server.ServerCertificate in code.");
        }

        if (options.DrainTimeout is { } drain && drain < TimeSpan.Zero)
        {
            errors.Add("DrainTimeout must not be negative.");
        }

        CheckConflict(errors, options.Server.DeliverMime is not null || options.Server.Deliver is not null || options.Server.DeliverLines is not null, "a delivery callback (Deliver, DeliverMime or DeliverLines)", typeof(ISmtpMessageHandler), typeof(ISmtpMimeMessageHandler));
        CheckConflict(errors, options.Server.ValidateHost is not null, nameof(SmtpServerOptions.ValidateHost), typeof(ISmtpHostValidator));
        CheckConflict(errors, options.Server.ValidateSender is not null, nameof(SmtpServerOptions.ValidateSender), typeof(ISmtpSenderValidator));
        CheckConflict(errors, options.Server.ValidateRecipient is not null, nameof(SmtpServerOptions.ValidateRecipient), typeof(ISmtpRecipientValidator));
        CheckConflict(errors, options.Server.Authenticate is not null, nameof(SmtpServerOptions.Authenticate), typeof(ISmtpAuthenticator));

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private void CheckConflict(List<string> errors, bool callbackSet, string callback, params Type[] handlerTypes)
    {
        if (callbackSet && services is not null && handlerTypes.FirstOrDefault(services.IsService) is { } handler)
        {
            errors.Add($"Server.{callback} is set in code and {handler.Name} handlers are registered: use one or the other.");
        }
    }
}
