global using Smtpd.TestSupport;
global using Smtpd.Tests.Support;
global using Xunit;
