global using MailKit.Net.Smtp;
global using MimeKit;
global using Smtpd.TestSupport;
global using Smtpd.Testing.Tests.Support;
global using Xunit;
