namespace HikShareGateway.Tests.Architecture;

/// <summary>The fMP4 output's arrows (ARCHITECTURE.md): it sits on Core, Media and Mp4 only; HTTP knows it only through Core's IMp4Streams.</summary>
[Trait("Category", "Unit")]
public sealed class Mp4DependencyRulesTests
{
    private static string[] GatewayReferences(System.Reflection.Assembly assembly) => assembly.GetReferencedAssemblies()
        .Select(a => a.Name!).Where(n => n.StartsWith("HikShareGateway", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();

    [Fact]
    public void Mp4Streaming_ReferencesCoreMediaAndMp4_NoTransportOrOtherFeature() =>
        Assert.Equal(["HikShareGateway.Core", "HikShareGateway.Media", "HikShareGateway.Mp4"], GatewayReferences(typeof(global::HikShareGateway.Mp4.Streaming.Fmp4Output).Assembly));

    [Fact]
    public void Mp4Muxer_StillReferencesAtMostCore() =>
        Assert.All(GatewayReferences(typeof(global::HikShareGateway.Mp4.Muxing.Fmp4Muxer).Assembly), r => Assert.Equal("HikShareGateway.Core", r));

    [Fact]
    public void Http_ReferencesAtMostCore_TheMp4EndpointsGoThroughIMp4Streams() =>
        Assert.All(GatewayReferences(typeof(global::HikShareGateway.Http.Mp4Endpoints).Assembly), r => Assert.Equal("HikShareGateway.Core", r));
}
