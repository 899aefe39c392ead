global using Smtpd.Tests.Support;
global using Xunit;
