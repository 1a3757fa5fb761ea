namespace HikShareGateway.Rtsp.Protocol;

/// <summary>The <c>Require</c> option tags (RFC 2326 §12.32) the gateway understands.</summary>
public static class RequireOptions
{
    /// <summary>ONVIF audio backchannel (ONVIF Streaming §5.3).</summary>
    public const string Backchannel = "www.onvif.org/ver20/backchannel";

    /// <summary>ONVIF replay (ONVIF Streaming §6.2).</summary>
    public const string Replay = "onvif-replay";
}
