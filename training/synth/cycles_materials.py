"""
Blender shader graphs of :class:`training.synth.looks.Material`: Principled BSDF materials.

Colours of a Material and of a body's rgba are sRGB display values; Blender's colour sockets
take scene-linear values, so they are decoded (:func:`training.synth.exposure.srgb_decode`).
Procedural patterns are evaluated at the body's object coordinates (metres, model frame)
times the material's scale plus its offset, so a pattern is fixed to the body:

* wood: a distorted wave texture (grain bands) between two browns, bump from the grain;
* stone: a Voronoi cell pattern mixed with fractal noise, greys, bumpy and rough;
* fabric: two perpendicular sine waves (a weave) times fine noise, sheen;
* metal: metallic, stretched noise (brushing) in colour and roughness;
* plastic: one colour with faint noise, smooth;
* own / image: the mesh's vertex colours or texture, or the body's texture (through the
  mesh's uvs; textures repeat), times the body's rgba.
"""

import numpy as np

from training.synth.blender import bpy
from training.synth.exposure import srgb_decode

#: Mesh colour attribute holding a catalogue mesh's vertex colours.
COLOUR_ATTRIBUTE = 'Col'


def _rgba(display):
    """Return a scene-linear RGBA 4-tuple of a display colour (3 or 4 values in [0, 1])."""
    return (*srgb_decode(np.asarray(display[:3])).tolist(), 1.0)


class _Graph:
    """A material's node tree under construction."""

    def __init__(self, material):
        self.nodes = material.node_tree.nodes
        self.links = material.node_tree.links
        self.bsdf = self.nodes['Principled BSDF']

    def node(self, kind, **values):
        """Return a new node of type `kind` with attributes and input defaults set."""
        node = self.nodes.new(kind)
        for name, value in values.items():
            if name in node.inputs:
                node.inputs[name].default_value = value
            else:
                setattr(node, name, value)
        return node

    def link(self, output, target):
        """Connect an output socket to an input socket."""
        self.links.new(output, target)

    def coordinates(self, look):
        """Return the Vector output of object coordinates scaled and offset by the look."""
        mapping = self.node('ShaderNodeMapping', Location=look.offset,
                            Scale=(look.scale,) * 3)
        self.link(self.node('ShaderNodeTexCoord').outputs['Object'], mapping.inputs['Vector'])
        return mapping.outputs['Vector']

    def mix(self, factor, first, second):
        """Return the colour output mixing two display colours (or sockets) by a factor."""
        mix = self.node('ShaderNodeMix', data_type='RGBA')
        self.link(factor, mix.inputs['Factor'])
        for socket, colour in zip((mix.inputs[6], mix.inputs[7]), (first, second)):
            if isinstance(colour, bpy.types.NodeSocket):
                self.link(colour, socket)
            else:
                socket.default_value = _rgba(colour)
        return mix.outputs[2]

    def multiply(self, colour, display):
        """Return a colour socket times a display colour."""
        mix = self.node('ShaderNodeMix', data_type='RGBA', blend_type='MULTIPLY')
        mix.inputs['Factor'].default_value = 1.0
        self.link(colour, mix.inputs[6])
        mix.inputs[7].default_value = _rgba(display)
        return mix.outputs[2]

    def bump(self, height, strength):
        """Bump the BSDF's normal by a height socket."""
        bump = self.node('ShaderNodeBump', Strength=strength, Distance=0.002)
        self.link(height, bump.inputs['Height'])
        self.link(bump.outputs['Normal'], self.bsdf.inputs['Normal'])


def _wood(graph, look):
    vector = graph.coordinates(look)
    wave = graph.node('ShaderNodeTexWave', Scale=1.0, Distortion=look.detail, Detail=3.0)
    graph.link(vector, wave.inputs['Vector'])
    graph.bump(wave.outputs['Fac'], look.bump)
    return graph.mix(wave.outputs['Fac'], *look.colours)


def _stone(graph, look):
    vector = graph.coordinates(look)
    cells = graph.node('ShaderNodeTexVoronoi', Scale=1.0, Randomness=1.0)
    noise = graph.node('ShaderNodeTexNoise', Scale=4.0, Detail=8.0, Roughness=0.6)
    for texture in (cells, noise):
        graph.link(vector, texture.inputs['Vector'])
    blend = graph.node('ShaderNodeMath', operation='MULTIPLY_ADD', use_clamp=True)
    graph.link(cells.outputs['Distance'], blend.inputs[0])
    blend.inputs[1].default_value = 0.6
    graph.link(noise.outputs['Fac'], blend.inputs[2])
    graph.bump(noise.outputs['Fac'], look.bump)
    return graph.mix(blend.outputs['Value'], *look.colours)


def _fabric(graph, look):
    vector = graph.coordinates(look)
    weave = graph.node('ShaderNodeMath', operation='MULTIPLY')
    for axis, socket in zip(('X', 'Y'), weave.inputs[:2]):
        wave = graph.node('ShaderNodeTexWave', bands_direction=axis, wave_profile='SIN',
                          Scale=1.0, Distortion=0.2 * look.detail, Detail=0.0)
        graph.link(vector, wave.inputs['Vector'])
        graph.link(wave.outputs['Fac'], socket)
    graph.bump(weave.outputs['Value'], look.bump)
    graph.bsdf.inputs['Sheen Weight'].default_value = 0.6
    return graph.mix(weave.outputs['Value'], *look.colours)


def _metal(graph, look):
    mapping = graph.node('ShaderNodeMapping', Location=look.offset,
                         Scale=(look.scale, look.scale, 0.02 * look.scale))
    graph.link(graph.node('ShaderNodeTexCoord').outputs['Object'], mapping.inputs['Vector'])
    noise = graph.node('ShaderNodeTexNoise', Scale=1.0, Detail=4.0)
    graph.link(mapping.outputs['Vector'], noise.inputs['Vector'])
    roughness = graph.node('ShaderNodeMapRange', **{
        'To Min': 0.6 * look.roughness, 'To Max': min(1.0, 1.4 * look.roughness)})
    graph.link(noise.outputs['Fac'], roughness.inputs['Value'])
    graph.link(roughness.outputs['Result'], graph.bsdf.inputs['Roughness'])
    return graph.mix(noise.outputs['Fac'], *look.colours)


def _plastic(graph, look):
    noise = graph.node('ShaderNodeTexNoise', Scale=1.0, Detail=2.0)
    graph.link(graph.coordinates(look), noise.inputs['Vector'])
    faint = graph.node('ShaderNodeMath', operation='MULTIPLY', use_clamp=True)
    graph.link(noise.outputs['Fac'], faint.inputs[0])
    faint.inputs[1].default_value = 0.15
    return graph.mix(faint.outputs['Value'], *look.colours)


PATTERNS = {'wood': _wood, 'stone': _stone, 'fabric': _fabric, 'metal': _metal,
            'plastic': _plastic}


def build_material(name, look, rgba, image=None):
    """
    Return a new bpy material of a :class:`~training.synth.looks.Material`.

    rgba: the body's display colour (multiplies 'own' and 'image'); image: the bpy image of
    an 'own' textured mesh or of an 'image' body (uv-mapped), None for vertex colours.
    """
    material = bpy.data.materials.new(name)
    material.use_nodes = True
    graph = _Graph(material)
    graph.bsdf.inputs['Roughness'].default_value = look.roughness
    graph.bsdf.inputs['Metallic'].default_value = look.metallic
    if look.family in PATTERNS:
        colour = PATTERNS[look.family](graph, look)
    elif image is not None:
        colour = graph.multiply(graph.node('ShaderNodeTexImage', image=image).outputs['Color'],
                                rgba)
    else:
        attribute = graph.node('ShaderNodeVertexColor', layer_name=COLOUR_ATTRIBUTE)
        colour = graph.multiply(attribute.outputs['Color'], rgba)
    graph.link(colour, graph.bsdf.inputs['Base Color'])
    return material
