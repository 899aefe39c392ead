global using MailKit.Net.Smtp;
global using Microsoft.Extensions.DependencyInjection;
global using Microsoft.Extensions.Hosting;
global using MimeKit;
global using Smtpd.Hosting.Tests.Support;
global using Smtpd.TestSupport;
global using Xunit;
