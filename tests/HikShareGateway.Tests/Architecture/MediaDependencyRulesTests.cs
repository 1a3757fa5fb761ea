using ArchUnitNET.Domain;
using ArchUnitNET.Fluent;
using ArchUnitNET.Fluent.Syntax.Elements.Types;
using ArchUnitNET.Loader;
using ArchUnitNET.xUnit;
using HikShareGateway.Media;
using HikShareGateway.Rtsp.Protocol;
using static ArchUnitNET.Fluent.ArchRuleDefinition;

namespace HikShareGateway.Tests.Architecture;

/// <summary>
/// The arrows of ARCHITECTURE.md's media section, held in code: core ← sources/outputs ← composition. The media core
/// knows no transport and no viewer protocol; RTSP's pure parsers stand alone; the upstream (a source) never uses the
/// viewer server (an output).
/// </summary>
[Trait("Category", "Unit")]
public sealed class MediaDependencyRulesTests
{
    private static readonly ArchUnitNET.Domain.Architecture Code =
        new ArchLoader().LoadAssemblies(typeof(LiveStream).Assembly, typeof(RtspParser).Assembly).Build();

    private static string Below(string ns) => "^" + ns.Replace(".", "\\.") + "(\\..+)?$";

    /// <summary>The types of <paramref name="ns"/> and the namespaces below it, as the subject of a rule.</summary>
    private static GivenTypesConjunctionWithDescription Subject(string ns) => Types().That().ResideInNamespaceMatching(Below(ns)).As(ns);

    /// <summary>The same set, as what a rule speaks about.</summary>
    private static IObjectProvider<IType> In(string ns) => Subject(ns);

    [Fact]
    public void MediaAssembly_ReferencesNoFeatureProject_OnlyCore()
    {
        var references = typeof(LiveStream).Assembly.GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(n => n.StartsWith("HikShareGateway", StringComparison.Ordinal))
            .ToArray();
        Assert.Equal(["HikShareGateway.Core"], references);
    }

    [Theory]
    [InlineData("HikShareGateway.Rtsp")]
    [InlineData("HikShareGateway.Http")]
    [InlineData("HikShareGateway.Cloud")]
    [InlineData("HikShareGateway.Onvif")]
    [InlineData("HikShareGateway.Access")]
    public void MediaCore_DependsOnNoTransportOrViewerProtocol(string forbidden) =>
        Subject("HikShareGateway.Media").Should().NotDependOnAny(In(forbidden)).Check(Code);

    [Theory]
    [InlineData("HikShareGateway.Rtsp.Server")]
    [InlineData("HikShareGateway.Rtsp.Upstream")]
    [InlineData("HikShareGateway.Rtsp.Transport")]
    [InlineData("HikShareGateway.Rtsp.Playback")]
    [InlineData("HikShareGateway.Rtsp.Talk")]
    [InlineData("HikShareGateway.Rtsp.Demo")]
    public void RtspProtocol_UsesNothingElseOfRtsp(string other) =>
        Subject("HikShareGateway.Rtsp.Protocol").Should().NotDependOnAny(In(other)).Check(Code);

    [Fact]
    public void RtspProtocol_DoesNotUseTheRtspRootNamespace() =>
        Subject("HikShareGateway.Rtsp.Protocol").Should().NotDependOnAny(Types().That().ResideInNamespaceMatching("^HikShareGateway\\.Rtsp$").As("HikShareGateway.Rtsp")).Check(Code);

    [Theory]
    [InlineData("HikShareGateway.Rtsp.Server")]
    [InlineData("HikShareGateway.Rtsp.Playback")]
    [InlineData("HikShareGateway.Rtsp.Talk")]
    public void RtspUpstream_TheSource_UsesNoViewerSideCode(string viewerSide) =>
        Subject("HikShareGateway.Rtsp.Upstream").Should().NotDependOnAny(In(viewerSide)).Check(Code);

    [Theory]
    [InlineData("HikShareGateway.Rtsp.Playback")]
    [InlineData("HikShareGateway.Rtsp.Talk")]
    public void RtspServer_KnowsPlaybackAndTalkOnlyThroughIViewerMedia(string kind) =>
        Subject("HikShareGateway.Rtsp.Server").Should().NotDependOnAny(In(kind)).Check(Code);

    [Fact]
    public void RtspServer_TheOutput_DoesNotUseTheUpstreamSource() =>
        Subject("HikShareGateway.Rtsp.Server").Should().NotDependOnAny(In("HikShareGateway.Rtsp.Upstream")).Check(Code);

    [Fact]
    public void RtspServer_DoesNotUseTheResolverAboveIt() =>
        Subject("HikShareGateway.Rtsp.Server").Should().NotDependOnAny(Types().That().ResideInNamespaceMatching("^HikShareGateway\\.Rtsp$").As("HikShareGateway.Rtsp")).Check(Code);

    [Fact]
    public void RtspTransport_DoesNotUseServerUpstreamPlaybackOrTalk() =>
        Subject("HikShareGateway.Rtsp.Transport").Should().NotDependOnAny(
            Types().That().ResideInNamespaceMatching("^HikShareGateway\\.Rtsp\\.(Server|Upstream|Playback|Talk)$").As("RTSP sessions")).Check(Code);

    [Fact]
    public void Rules_SeeTheTypesTheyTalkAboutAndCatchARealDependency()
    {
        // Guards against a rule passing because its namespace pattern matches nothing.
        Assert.NotEmpty(In("HikShareGateway.Media").GetObjects(Code));
        Assert.NotEmpty(In("HikShareGateway.Rtsp.Protocol").GetObjects(Code));
        Assert.NotEmpty(In("HikShareGateway.Rtsp.Upstream").GetObjects(Code));
        Assert.NotEmpty(In("HikShareGateway.Rtsp.Server").GetObjects(Code));
        Assert.NotEmpty(In("HikShareGateway.Rtsp.Transport").GetObjects(Code));
        // And a dependency that does exist is seen: the output uses the core.
        Assert.False(Subject("HikShareGateway.Rtsp.Server").Should().NotDependOnAny(In("HikShareGateway.Media")).HasNoViolations(Code));
        Assert.False(Subject("HikShareGateway.Rtsp.Upstream").Should().NotDependOnAny(In("HikShareGateway.Rtsp.Transport")).HasNoViolations(Code));
    }
}
