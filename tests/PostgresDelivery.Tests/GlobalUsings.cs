global using MailKit.Net.Smtp;
global using Microsoft.Extensions.DependencyInjection;
global using Microsoft.Extensions.Hosting;
global using MimeKit;
global using Npgsql;
global using Smtpd.Samples.PostgresDelivery.Tests.Support;
global using Xunit;

[assembly: AssemblyFixture(typeof(PostgresServer))]
