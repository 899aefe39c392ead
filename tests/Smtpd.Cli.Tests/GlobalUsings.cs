global using Smtpd.Cli.Tests.Support;
global using Xunit;
