using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Smtpd.Samples.WorkerService;

// appsettings.json sits next to the binary, so `dotnet run --project samples/WorkerService` works from anywhere.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });

// Listens as the "Smtpd" section says, logs with the host's loggers, and stops with the host (Ctrl+C drains).
builder.Services.AddSmtpd()
    .AddRecipientValidator<LocalDomainsOnly>()
    .AddMimeMessageHandler<LogMessageHandler>();

await builder.Build().RunAsync();
