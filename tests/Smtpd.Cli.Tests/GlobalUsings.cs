global using Smtpd.Cli.Tests.Support;
global using Smtpd.TestSupport;
global using Xunit;
