#!/usr/bin/env node
import { createFarmApp } from '../lib/app';

createFarmApp().app.synth();
