using BenchmarkDotNet.Attributes;
using Smtpd.Parsing;

namespace Smtpd.Benchmarks;

/// <summary>The RFC 5321 path grammar alone, for the shapes real traffic has.</summary>
[MemoryDiagnoser]
public class PathParsingBenchmarks
{
    private static readonly byte[] Simple = "<john.smith@example.com>"u8.ToArray();
    private static readonly byte[] Quoted = "<\"john q. smith\"@mail.example.com>"u8.ToArray();
    private static readonly byte[] Routed = "<@relay1.example,@relay2.example:user@example.net>"u8.ToArray();
    private static readonly byte[] Literal = "<postmaster@[IPv6:2001:db8::1]>"u8.ToArray();

    [Benchmark]
    public int SimplePath() => (int)new PathGrammar(Simple).TryMakeForwardPath(out _);

    [Benchmark]
    public int QuotedLocalPart() => (int)new PathGrammar(Quoted).TryMakeForwardPath(out _);

    [Benchmark]
    public int SourceRoute() => (int)new PathGrammar(Routed).TryMakeForwardPath(out _);

    [Benchmark]
    public int Ipv6Literal() => (int)new PathGrammar(Literal).TryMakeForwardPath(out _);
}
