using Microsoft.Extensions.Hosting;
using Smtpd.Samples.PostgresDelivery;

// One instance of a fleet behind a load balancer (docs/scaling.md): every message is committed to the PostgreSQL
// database all instances share before the client gets its 250. The connection string is ConnectionStrings:Mail,
// from appsettings.json or the environment (ConnectionStrings__Mail=...).
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddPostgresDelivery();
await builder.Build().RunAsync();
